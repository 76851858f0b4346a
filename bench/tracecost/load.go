//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// The load side: an echo backend and clients, both coder/websocket with
// permessage-deflate and context takeover, as a browser and a Node or Go
// server commonly agree it.

// An echoServer answers every message with itself, compressed when the
// upgrade agreed compression.
type echoServer struct {
	addr   string
	srv    *http.Server
	cancel context.CancelFunc
}

func startEcho() (*echoServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo backend: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &echoServer{addr: l.Addr().String(), cancel: cancel}
	e.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(ctx, c)
	})}
	go e.srv.Serve(l)
	return e, nil
}

// echo copies each message back until the connection or ctx ends.
func echo(ctx context.Context, c *websocket.Conn) {
	buf := make([]byte, 4096)
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return
		}
		if _, err := io.CopyBuffer(w, r, buf); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

// close ends the backend and, through its context, every connection it
// holds (http.Server does not track hijacked ones).
func (e *echoServer) close() {
	e.cancel()
	e.srv.Close()
}

// dial opens a WebSocket through url offering compression with context
// takeover, and says whether the 101 agreed it.
func dial(ctx context.Context, url string) (*websocket.Conn, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		return nil, false, err
	}
	return c, strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate"), nil
}

// dialAs dials and fails unless the 101 agreed compression as expected.
func dialAs(ctx context.Context, url string, deflate bool) (*websocket.Conn, error) {
	c, got, err := dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if got != deflate {
		c.CloseNow()
		return nil, fmt.Errorf("permessage-deflate agreed: %v; want %v", got, deflate)
	}
	return c, nil
}

// stream keeps window messages in flight on one connection until the
// deadline, then waits for the last echoes and closes. With every above
// zero it sends a message at most that often. It returns how many
// messages came back. One goroutine both sends and reads: a window of
// small messages never fills the socket buffers, so a write cannot wait
// on a read.
func stream(ctx context.Context, url string, deflate bool, window int, every time.Duration, g *generator, until time.Time) (int64, error) {
	c, err := dialAs(ctx, url, deflate)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	next := time.Now()
	send := func() error {
		if every > 0 {
			next = next.Add(every)
			time.Sleep(time.Until(next))
		}
		return c.Write(ctx, websocket.MessageText, g.next())
	}
	var echoes int64
	inFlight := 0
	for ; inFlight < window; inFlight++ {
		if err := send(); err != nil {
			return 0, err
		}
	}
	for inFlight > 0 {
		if err := readEcho(ctx, c, g.size); err != nil {
			return echoes, err
		}
		echoes++
		inFlight--
		if time.Now().Before(until) {
			if err := send(); err != nil {
				return echoes, err
			}
			inFlight++
		}
	}
	return echoes, c.Close(websocket.StatusNormalClosure, "")
}

// readEcho reads one message and checks its size.
func readEcho(ctx context.Context, c *websocket.Conn, size int) error {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != int64(size) {
		err = fmt.Errorf("echo of %d bytes; want %d", n, size)
	}
	return err
}

// exchange sends n messages one at a time and reads each echo: the
// memory measurement's tunnels pass a few compressed messages both ways,
// so that their inflaters exist, and then stay open.
func exchange(ctx context.Context, c *websocket.Conn, g *generator, n int) error {
	for range n {
		if err := c.Write(ctx, websocket.MessageText, g.next()); err != nil {
			return err
		}
		if err := readEcho(ctx, c, g.size); err != nil {
			return err
		}
	}
	return nil
}
