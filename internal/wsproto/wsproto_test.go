package wsproto

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestMask(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		key := r.Uint32()
		kb := [4]byte{byte(key), byte(key >> 8), byte(key >> 16), byte(key >> 24)}
		got := make([]byte, n)
		Mask(got, src, key)
		for i := range src {
			if want := src[i] ^ kb[i%4]; got[i] != want {
				t.Fatalf("mask of %d bytes: byte %d = %#x; want %#x", n, i, got[i], want)
			}
		}
	}
}

// TestAcceptKey is RFC 6455 §1.3's example.
func TestAcceptKey(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey = %q; want RFC 6455's s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
}

func TestHasToken(t *testing.T) {
	cases := []struct {
		values []string
		want   bool
	}{
		{[]string{"Upgrade"}, true},
		{[]string{"keep-alive, UPGRADE"}, true},
		{[]string{"keep-alive", " upgrade "}, true},
		{[]string{"upgraded"}, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := HasToken(tc.values, "upgrade"); got != tc.want {
			t.Errorf("HasToken(%q, upgrade) = %v; want %v", tc.values, got, tc.want)
		}
	}
}

func TestClosePayload(t *testing.T) {
	if got := ClosePayload(1001, "going away"); !bytes.Equal(got, append([]byte{0x03, 0xe9}, "going away"...)) {
		t.Errorf("ClosePayload = %q", got)
	}
	if s := OpPong.String(); s != "pong" {
		t.Errorf("OpPong = %q", s)
	}
}
