// Package midpage allocates byte buffers that start halfway into a memory
// page, for data that the kernel copies to or from a socket.
//
// Linux copies socket data with "rep movsb". On the AMD EPYC machines
// wsgate is measured on, that instruction takes a slow path when the
// destination lies a little ahead of the source within a 4 KiB page, and
// socket data mostly sits near the start of a page. Go places an
// allocation of 4 KiB, or of more than 32 KiB, at the start of a page, so
// a relay writing whole 64 KiB reads met the slow path on most writes:
// perf showed the kernel's copy into the socket (_copy_from_iter) costing
// wsgate twice what it cost nginx per message, whose malloc'd buffers
// start mid-page. Half a page away from both neighbours, the copy costs
// what nginx's does (docs/performance.md). Intel's fast path wants 64-byte
// alignment only, which a mid-page start keeps.
package midpage

import "unsafe"

const (
	page = 4096
	half = page / 2
)

// Make returns a slice of n zero bytes, with len and cap n, whose first
// byte is half a page from a page boundary. It allocates n+4 KiB at most.
func Make(n int) []byte {
	b := make([]byte, n+page)
	at := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % page)
	off := (half - at + page) % page
	return b[off : off+n : off+n]
}
