package midpage

import (
	"testing"
	"unsafe"
)

func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4 << 10, 30 << 10, 64 << 10, 1 << 20} {
		for range 3 { // allocations land at different addresses
			b := Make(n)
			if len(b) != n || cap(b) != n {
				t.Fatalf("Make(%d): len %d cap %d", n, len(b), cap(b))
			}
			if n == 0 {
				continue
			}
			if at := uintptr(unsafe.Pointer(&b[0])) % page; at != half {
				t.Errorf("Make(%d) starts %d bytes into its page, want %d", n, at, half)
			}
		}
	}
}
