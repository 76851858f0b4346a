// Package midpage allocates byte buffers that start halfway into a memory
// page, for data that the kernel copies to or from a socket.
//
// Linux copies socket data with "rep movsb". On the AMD EPYC machines
// wsgate is measured on, that instruction takes a slow path when the
// destination lies a little ahead of the source within a 4 KiB page, and
// socket data mostly sits near the start of a page. Go places an
// allocation of 4 KiB, or of more than 32 KiB, at the start of a page, so
// a relay writing whole 64 KiB reads met the slow path on most writes:
// perf put the kernel's copy into the socket (_copy_from_iter) at twice
// nginx's cost per message, and nginx's malloc'd buffer started mid-page.
// Started half a page in, the copy costs what nginx's does
// (docs/performance.md). A mid-page start is 64-byte aligned, all that
// Intel's fast path asks for.
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
