//go:build !linux

package tunnel

import "errors"

// parker is Linux only (epoll); elsewhere relay goroutines wait in Go's
// poller.
type parker struct{}

var errParked = errors.New("parked")

func newParker() *parker         { return nil }
func (p *parker) unpark(*Tunnel) {}
func (p *parker) close()         {}
