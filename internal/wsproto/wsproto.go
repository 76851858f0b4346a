// Package wsproto holds the few pieces of RFC 6455 that the proxy, its
// load generator and their tests all need, once: opcodes, the accept key,
// close payloads and masking. It is not a WebSocket implementation: the
// proxy relays bytes, and reads frame headers passively (tunnel/frame.go).
package wsproto

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Opcode is a frame's opcode (RFC 6455 §5.2).
type Opcode uint8

const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode-%d", uint8(o))
}

// AcceptKey is the Sec-WebSocket-Accept for a client's Sec-WebSocket-Key
// (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// HasToken reports whether token is one of the comma-separated items of
// the header values, without regard to case (Connection: keep-alive,
// Upgrade).
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// ClosePayload is a close frame's payload: the code, then the reason.
func ClosePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// Mask writes src XOR the masking key to dst (RFC 6455 §5.3), eight bytes
// at a time. The key's first byte is its least significant: the one
// written first on the wire. dst and src may be the same.
func Mask(dst, src []byte, key uint32) {
	k := uint64(key) | uint64(key)<<32
	dst = dst[:len(src)]
	i := 0
	for ; len(src)-i >= 32; i += 32 {
		s, d := src[i:i+32:i+32], dst[i:i+32:i+32]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^k)
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^k)
		binary.LittleEndian.PutUint64(d[16:], binary.LittleEndian.Uint64(s[16:])^k)
		binary.LittleEndian.PutUint64(d[24:], binary.LittleEndian.Uint64(s[24:])^k)
	}
	for ; len(src)-i >= 8; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ byte(key>>(8*(i&3)))
	}
}
