package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// readEnd is why the reading goroutine stopped: the error reading gave,
// a failure to print (local), or --count reached (err nil).
type readEnd struct {
	err   error
	local bool
}

// converse sends the input and prints what arrives until one side closes.
// Reads use their own context: cancelling a coder/websocket read closes
// the connection, and an interrupted dial should still close politely.
// Messages are printed by the reading goroutine itself, so that reading
// never waits for a write to the server (which may wait for us to read).
func converse(ctx context.Context, e *env, c *websocket.Conn, cfg dialConfig) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(done)
		c.CloseNow()
		wg.Wait()
	}()

	ends := make(chan readEnd, 1)
	received := make(chan struct{}, 1)
	wg.Go(func() {
		for n := 1; ; n++ {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				ends <- readEnd{err: err}
				return
			}
			if err := printMessage(e.stdout, cfg.format, typ, p); err != nil {
				ends <- readEnd{err: fmt.Errorf("print: %w", err), local: true}
				return
			}
			if n == cfg.count {
				ends <- readEnd{}
				return
			}
			select {
			case received <- struct{}{}:
			default:
			}
		}
	})
	pingErr := make(chan error, 1)
	if cfg.ping > 0 {
		wg.Go(func() { pingErr <- pings(c, cfg.ping, done, cfg.log) })
	}
	inputs := make(chan outgoing)
	go readInput(cfg.src, cfg.input, inputs, done) // may stay blocked in a read of stdin: the process's end ends it

	// idle runs from the start (--idle-exit), quiet from the end of input
	// (--wait); a message received restarts both.
	var idle, quiet *time.Timer
	if cfg.idle > 0 {
		idle = time.NewTimer(cfg.idle)
	}
	defer func() { stopTimer(idle); stopTimer(quiet) }()
	for {
		select {
		case m, ok := <-inputs:
			switch {
			case !ok:
				inputs = nil
				if cfg.count == 0 { // with --count, the end of input does not end dial
					quiet = time.NewTimer(cfg.wait)
				}
			case m.err != nil:
				closeNormally(c, cfg, ends, "")
				return m.err
			default:
				if err := c.Write(ctx, m.typ, m.p); err != nil {
					return fmt.Errorf("send: %w", closeReason(ends, err, cfg.log))
				}
			}
		case <-received:
			resetTimer(idle, cfg.idle)
			resetTimer(quiet, cfg.wait)
		case <-timerC(idle):
			return closeNormally(c, cfg, ends, fmt.Sprintf("nothing for --idle-exit %v", cfg.idle))
		case <-timerC(quiet):
			return closeNormally(c, cfg, ends, "end of input")
		case <-ctx.Done():
			return closeNormally(c, cfg, ends, "interrupted")
		case end := <-ends:
			switch {
			case end.local:
				closeNormally(c, cfg, nil, "")
				return end.err
			case end.err == nil:
				return closeNormally(c, cfg, nil, fmt.Sprintf("--count %d reached", cfg.count))
			}
			return serverClosed(end.err, cfg.log)
		case err := <-pingErr:
			if err != nil {
				return err // the connection is dead or deaf: no close handshake to wait for
			}
			pingErr = nil
		}
	}
}

// closeNormally sends dial's own close and waits for the server's. Any
// close frame in answer ends the conversation normally; none at all is the
// abnormal 1006. ends, if not nil, tells a close the server sent first.
func closeNormally(c *websocket.Conn, cfg dialConfig, ends <-chan readEnd, why string) error {
	if cfg.log != nil && why != "" {
		fmt.Fprintf(cfg.log, "* sending close %s (%s)\n", closeText(cfg.closeCode, cfg.closeReason), why)
	}
	err := c.Close(cfg.closeCode, cfg.closeReason)
	if err == nil || websocket.CloseStatus(err) != -1 {
		if cfg.log != nil {
			answer := fmt.Sprint(int(cfg.closeCode)) // Close returns nil for the same code, whatever the reason
			if err != nil {
				var ce websocket.CloseError
				errors.As(err, &ce)
				answer = closeText(ce.Code, ce.Reason)
			}
			fmt.Fprintf(cfg.log, "* server answered with close %s\n", answer)
		}
		return nil
	}
	if errors.Is(err, net.ErrClosed) && ends != nil {
		// The reader handled a close or an error first and closed the
		// connection: its end is the conversation's.
		select {
		case end := <-ends:
			if end.err != nil && !end.local {
				return serverClosed(end.err, cfg.log)
			}
		case <-time.After(time.Second):
		}
	}
	return abnormalClose{fmt.Errorf("sent close %d; no close frame came back: %w", int(cfg.closeCode), err)}
}

// serverClosed turns the error that ended reading into dial's result: nil
// for a normal close (1000, 1001, or a close frame without a code, 1005),
// abnormalClose for another code or a connection dropped without a close
// frame, a plain error for anything else (a message over the read limit,
// a protocol error).
func serverClosed(err error, log io.Writer) error {
	var ce websocket.CloseError
	var op *net.OpError
	switch {
	case errors.As(err, &ce):
		if log != nil {
			fmt.Fprintf(log, "* server closed with %s\n", closeText(ce.Code, ce.Reason))
		}
		switch ce.Code {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
			return nil
		}
		return abnormalClose{fmt.Errorf("closed by server with %s", closeText(ce.Code, ce.Reason))}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &op):
		return abnormalClose{fmt.Errorf("connection dropped without a close frame (1006): %w", err)}
	}
	return fmt.Errorf("connection lost: %w", err)
}

// closeText is a close as dial prints it: the code, then the reason if any.
func closeText(code websocket.StatusCode, reason string) string {
	if reason == "" {
		return fmt.Sprint(int(code))
	}
	return fmt.Sprintf("%d %s", int(code), reason)
}

// closeReason prefers the server's close over the write error it caused.
func closeReason(ends <-chan readEnd, err error, log io.Writer) error {
	select {
	case end := <-ends:
		if end.err != nil && !end.local {
			return serverClosed(end.err, log)
		}
	case <-time.After(100 * time.Millisecond):
	}
	return err
}

// pings pings every interval until done and returns an error when a pong
// does not come within the interval. Other failures are the reader's to
// report.
func pings(c *websocket.Conn, interval time.Duration, done <-chan struct{}, log io.Writer) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		start := time.Now()
		err := c.Ping(ctx)
		cancel()
		switch {
		case err == nil:
			if log != nil {
				fmt.Fprintf(log, "* pong after %s\n", ms(time.Since(start)))
			}
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("no pong within --ping %v", interval)
		default:
			return nil
		}
	}
}

// timerC is t's channel; nil, which never fires, for no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func resetTimer(t *time.Timer, d time.Duration) {
	if t != nil {
		t.Reset(d)
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
