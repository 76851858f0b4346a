// Package syncbuf is a bytes.Buffer that a program under test may write
// from several goroutines while the test reads it: a log destination,
// a command's stdout. Tests only.
package syncbuf

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// Buffer collects what is written to it. The zero Buffer is empty and
// ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// Tee, when set before the first Write, also gets every write (a
	// verbose test's stderr).
	Tee io.Writer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Tee != nil {
		s.Tee.Write(p)
	}
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Line is the first line written so far that contains every one of
// words, "" when there is none.
func (s *Buffer) Line(words ...string) string {
	for _, l := range strings.Split(s.String(), "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return l
		}
	}
	return ""
}
