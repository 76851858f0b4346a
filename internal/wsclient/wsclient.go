// Package wsclient is the WebSocket client of wsgate bench: the least a
// load generator needs (RFC 6455 without extensions), made so that the
// generator is not what a benchmark measures.
//
// coder/websocket, which the rest of wsgate uses, masks a client's payload
// through a 4 KiB write buffer, so a 64 KiB message costs 16 write system
// calls, and its Dial goes through net/http's client. On the two-CPU
// machines of docs/performance.md the generator shares a CPU with the echo
// backend; with coder/websocket it saturated that CPU at 280 MB/s through
// a proxy, with this client 460 MB/s. Here a message is one frame, masked
// into a reused buffer and sent with one write; reads go straight into the
// caller's buffer; nothing is allocated per message.
package wsclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wsgate/wsgate/internal/midpage"
	"github.com/wsgate/wsgate/internal/wsproto"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode = wsproto.Opcode

// The opcodes a caller sends or receives.
const (
	Text    = wsproto.OpText
	Binary  = wsproto.OpBinary
	opClose = wsproto.OpClose
	opPing  = wsproto.OpPing
	opPong  = wsproto.OpPong
)

// readBufferSize is the handshake reader's buffer; payloads that do not fit
// in what is buffered are read straight into the caller's buffer.
const readBufferSize = 16 << 10

// closeWait bounds how long Close waits for the server's close frame.
const closeWait = 5 * time.Second

// ErrTooLong is returned by ReadMessage for a message longer than the
// buffer given to it. The connection cannot be used after it.
var ErrTooLong = errors.New("message longer than the read buffer")

// CloseError is the server's close frame (RFC 6455 section 5.5.1).
// Code is 1005 when the frame carried none.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("closed by server with %d %s", e.Code, e.Reason)
}

// StatusError is a handshake the server answered with something other
// than 101 Switching Protocols.
type StatusError struct {
	Status string // as the server sent it, "403 Forbidden"
}

func (e *StatusError) Error() string {
	return "server answered " + e.Status + " instead of 101 Switching Protocols"
}

// Conn is one client connection. ReadMessage may run in one goroutine
// while WriteMessage runs in another; neither is safe for more than one
// goroutine at a time.
type Conn struct {
	nc net.Conn
	br *bufio.Reader

	wmu  sync.Mutex // one frame at a time: the reader answers pings and closes
	wbuf []byte     // the frame being sent, header and masked payload
	rng  *mrand.ChaCha8

	// WriteNoise's header and the two buffers it hands to writev.
	nhdr [14]byte
	iov  [2][]byte
	bufs net.Buffers

	closeSent bool // guarded by wmu
	closeRecv bool // set by the reader

	// The reader's scratch space, here so that it is not allocated per
	// frame: a frame header's extended length, and a control frame.
	rhdr [8]byte
	rctl [125]byte
}

// Options configures Dial. The zero value dials ws:// and wss:// with
// Go's default TLS settings.
type Options struct {
	// TLS is used for wss:// and https:// URLs; nil means the defaults.
	// An empty ServerName is taken from the URL.
	TLS *tls.Config
}

// Dial connects to a ws://, wss://, http:// or https:// URL and performs
// the opening handshake. ctx bounds the connect and the handshake.
func Dial(ctx context.Context, rawURL string, opts *Options) (c *Conn, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("dial %s: %w", rawURL, err)
		}
	}()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, fmt.Errorf("scheme %q: want ws, wss, http or https", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	nc := tcp
	// The handshake's reads and writes obey ctx too.
	stop := context.AfterFunc(ctx, func() { tcp.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() || err != nil {
			nc.Close()
			if err == nil {
				err = ctx.Err()
			}
			c = nil
		}
	}()
	if secure {
		cfg := &tls.Config{}
		if opts != nil && opts.TLS != nil {
			cfg = opts.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		nc = tc
	}
	var seed [32]byte
	rand.Read(seed[:])
	c = &Conn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize), rng: mrand.NewChaCha8(seed)}
	if err := c.handshake(u); err != nil {
		return nil, err
	}
	return c, nil
}

// handshake sends the upgrade request and checks the answer (RFC 6455
// section 4.1): status 101, Upgrade websocket, Connection upgrade and the
// accept value of our key.
func (c *Conn) handshake(u *url.URL) error {
	var raw [16]byte
	c.rng.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fmt.Errorf("read handshake answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return &StatusError{Status: resp.Status}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return fmt.Errorf("101 with Upgrade %q, not websocket", resp.Header.Get("Upgrade"))
	}
	if !wsproto.HasToken(resp.Header.Values("Connection"), "upgrade") {
		return errors.New("101 without Connection: upgrade")
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsproto.AcceptKey(key); got != want {
		return fmt.Errorf("101 with Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return c.nc.SetDeadline(time.Time{})
}

// WriteMessage sends p as one final frame of type op.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrame(op, p)
}

// writeFrame builds the frame in c.wbuf, masked with a fresh key as RFC
// 6455 section 5.3 requires of a client, and sends it with one write.
func (c *Conn) writeFrame(op Opcode, p []byte) error {
	n := len(p)
	if cap(c.wbuf) < 14+n {
		c.wbuf = midpage.Make(14 + n) // see midpage
	}
	w := c.wbuf[:14+n]
	h, key := c.putHeader(w, op, n)
	wsproto.Mask(w[h:h+n], p, key)
	_, err := c.nc.Write(w[:h+n])
	return err
}

// WriteNoise sends one binary message whose bytes on the wire are wire,
// after a header with a fresh masking key: the server reads wire XOR that
// key. It is for load, where what a message says does not matter, and it
// saves the pass over every byte that masking is (about 4 µs of the
// generator's CPU per 64 KiB message). RFC 6455 wants a fresh,
// unpredictable key per frame so that a script cannot choose the bytes on
// the wire; the key is fresh, and no one but the caller chooses anything.
// Header and payload go in one writev.
func (c *Conn) WriteNoise(wire []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h, _ := c.putHeader(c.nhdr[:], Binary, len(wire))
	c.iov = [2][]byte{c.nhdr[:h], wire}
	c.bufs = c.iov[:] // WriteTo consumes the slice; c.iov keeps it from allocating
	_, err := c.bufs.WriteTo(c.nc)
	return err
}

// putHeader writes the header of a final, masked frame of type op with n
// bytes of payload into w, which has room for 14 bytes, and returns its
// length and the key.
func (c *Conn) putHeader(w []byte, op Opcode, n int) (int, uint32) {
	w[0] = 0x80 | byte(op)
	h := 2
	switch {
	case n < 126:
		w[1] = 0x80 | byte(n)
	case n <= 0xffff:
		w[1] = 0x80 | 126
		binary.BigEndian.PutUint16(w[2:], uint16(n))
		h = 4
	default:
		w[1] = 0x80 | 127
		binary.BigEndian.PutUint64(w[2:], uint64(n))
		h = 10
	}
	key := uint32(c.rng.Uint64())
	binary.LittleEndian.PutUint32(w[h:], key)
	return h + 4, key
}

// ReadMessage reads the next data message into buf and returns its type
// and length; fragments are joined. Pings are answered and pongs skipped
// on the way. A close frame from the server is answered and returned as a
// *CloseError.
func (c *Conn) ReadMessage(buf []byte) (Opcode, int, error) {
	var op Opcode
	n := 0
	for {
		fin, fop, length, err := c.readHeader()
		if err != nil {
			return 0, 0, err
		}
		if fop >= opClose {
			if err := c.control(fop, length); err != nil {
				return 0, 0, err
			}
			continue
		}
		switch {
		case fop == 0 && op == 0:
			return 0, 0, errors.New("protocol error: continuation frame outside a message")
		case fop != 0 && op != 0:
			return 0, 0, errors.New("protocol error: new message inside a fragmented one")
		case fop == Text || fop == Binary:
			op = fop
		case fop != 0:
			return 0, 0, fmt.Errorf("protocol error: unknown opcode %d", fop)
		}
		if length > uint64(len(buf)-n) {
			return 0, 0, ErrTooLong
		}
		m, err := io.ReadFull(c.br, buf[n:n+int(length)])
		n += m
		if err != nil {
			return 0, 0, unexpected(err)
		}
		if fin {
			return op, n, nil
		}
	}
}

func (c *Conn) readHeader() (fin bool, op Opcode, length uint64, err error) {
	h := c.rhdr[:]
	if _, err := io.ReadFull(c.br, h[:2]); err != nil {
		return false, 0, 0, err
	}
	if h[0]&0x70 != 0 {
		return false, 0, 0, errors.New("protocol error: reserved bits set, no extension was negotiated")
	}
	if h[1]&0x80 != 0 {
		return false, 0, 0, errors.New("protocol error: masked frame from the server")
	}
	fin, op, length = h[0]&0x80 != 0, Opcode(h[0]&0x0f), uint64(h[1]&0x7f)
	switch length {
	case 126:
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return false, 0, 0, unexpected(err)
		}
		length = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, h[:8]); err != nil {
			return false, 0, 0, unexpected(err)
		}
		length = binary.BigEndian.Uint64(h[:8])
	}
	return fin, op, length, nil
}

// control handles a ping, pong or close frame whose header was read.
func (c *Conn) control(op Opcode, length uint64) error {
	if length > 125 || op > opPong {
		return fmt.Errorf("protocol error: control frame with opcode %d and %d bytes", op, length)
	}
	p := c.rctl[:]
	if _, err := io.ReadFull(c.br, p[:length]); err != nil {
		return unexpected(err)
	}
	switch op {
	case opPing:
		return c.WriteMessage(opPong, p[:length])
	case opPong:
		return nil
	}
	c.closeRecv = true
	ce := &CloseError{Code: 1005}
	if length >= 2 {
		ce.Code = int(binary.BigEndian.Uint16(p[:2]))
		ce.Reason = string(p[2:length])
	}
	// Answer with the same code (section 5.5.1), unless we closed first.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.closeSent {
		c.closeSent = true
		var body []byte
		if length >= 2 {
			body = p[:2]
		}
		c.writeFrame(opClose, body)
	}
	return ce
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Close sends a close frame with code, waits up to 5 s for the server's
// (skipping messages still on their way), and closes the connection. It
// must not run while another goroutine is in ReadMessage: that goroutine
// should use SendClose.
func (c *Conn) Close(code int) error {
	defer c.nc.Close()
	return c.closeHandshake(code)
}

// CloseWaitEOF is Close, and then waits up to 5 s more for the server to
// close the TCP connection: RFC 6455 §7.1.1 has the server close it first,
// and a polite client waits for that (TIME_WAIT then stays on the
// server). A proxy that passes the server's FIN on late shows here.
func (c *Conn) CloseWaitEOF(code int) error {
	defer c.nc.Close()
	if err := c.closeHandshake(code); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
	var b [1]byte
	switch n, err := c.br.Read(b[:]); {
	case n > 0:
		return errors.New("wait for the server's FIN: bytes after the close frame")
	case err != io.EOF:
		return fmt.Errorf("wait for the server's FIN: %w", err)
	}
	return nil
}

// closeHandshake sends a close frame with code, unless the server's came
// first, and waits for the server's.
func (c *Conn) closeHandshake(code int) error {
	if c.closeRecv {
		return nil
	}
	if err := c.SendClose(code); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
	for {
		_, op, length, err := c.readHeader()
		if err != nil {
			return fmt.Errorf("wait for the server's close: %w", unexpected(err))
		}
		if op == opClose {
			var ce *CloseError
			if err := c.control(op, length); !errors.As(err, &ce) {
				return fmt.Errorf("wait for the server's close: %w", err)
			}
			return nil
		}
		if _, err := c.br.Discard(int(min(length, 1<<62))); err != nil {
			return fmt.Errorf("wait for the server's close: %w", unexpected(err))
		}
	}
}

// SendClose sends a close frame with code, once; the server's answer
// comes back to ReadMessage as a *CloseError.
func (c *Conn) SendClose(code int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	c.closeSent = true
	var body [2]byte
	binary.BigEndian.PutUint16(body[:], uint16(code))
	if err := c.writeFrame(opClose, body[:]); err != nil {
		return fmt.Errorf("send close: %w", err)
	}
	return nil
}

// SetDeadline bounds the reads and writes that follow, as
// net.Conn.SetDeadline does.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// CloseNow closes the connection without a close handshake.
func (c *Conn) CloseNow() error { return c.nc.Close() }
