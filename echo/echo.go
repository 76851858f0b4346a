// Package echo is wsgate's built-in WebSocket echo backend: the other end a
// newcomer needs to try the proxy at once (`wsgate serve --demo`), and the
// backend the tests and the load generator talk to.
package echo

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/internal/midpage"
)

//go:embed page.html
var page []byte

// Options configures the echo handler. The zero value is valid.
type Options struct {
	// Subprotocols the server may choose from, in order of preference.
	// Empty: no subprotocol is chosen.
	Subprotocols []string
	// ReadLimit is the largest message echoed, in bytes. Zero: 64 MiB.
	ReadLimit int64
	// Logger gets one line per connection. Nil discards them.
	Logger *slog.Logger
	// OnMessage, when set, sees each message before it is echoed: the
	// client's address, whether it is text, and the payload (nil for a
	// message longer than the echo holds, which is streamed back as it
	// comes: size is then what it counted). Calls for one connection come
	// one at a time; p is not valid after the call returns.
	OnMessage func(client string, text bool, p []byte, size int64)
}

// Handler returns an http.Handler that echoes every WebSocket message back
// with its type (text or binary), answers pings, and answers a close with
// the same code and reason. A plain GET gets a small page whose script
// connects back over WebSocket, so a browser can try the echo (or a proxy
// in front of it) by opening the address.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := opts.ReadLimit
	if limit == 0 {
		limit = 64 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols: opts.Subprotocols,
			// An echo server has nothing to protect, and behind a proxy
			// the Origin never matches the Host it sees.
			InsecureSkipVerify: true,
		})
		if err != nil {
			log.Info("echo: handshake failed", "client", r.RemoteAddr, "error", err.Error())
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(limit)
		log.Info("echo: connected", "client", r.RemoteAddr, "path", r.URL.RequestURI(), "subprotocol", c.Subprotocol())
		var seen func(bool, []byte, int64)
		if opts.OnMessage != nil {
			seen = func(text bool, p []byte, size int64) { opts.OnMessage(r.RemoteAddr, text, p, size) }
		}
		err = serve(c, seen)
		log.Info("echo: closed", "client", r.RemoteAddr, "status", int(websocket.CloseStatus(err)))
	})
}

// wholeMax is the largest message echoed as it came, in one frame: read
// whole, then written back. A larger one is streamed back in fragments as
// it arrives, so that memory stays bounded whatever the message size.
const wholeMax = 1 << 20

// bufs holds the read buffers: an idle connection keeps none.
var bufs = sync.Pool{New: func() any { b := midpage.Make(64 << 10); return &b }} // see midpage

// serve echoes each message. Reads and writes take a context that is never
// done: coder/websocket starts a watchdog for each call given one that can
// be, and a hijacked request's context ends only when the handler returns.
func serve(c *websocket.Conn, seen func(text bool, p []byte, size int64)) error {
	ctx := context.Background()
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		bp := bufs.Get().(*[]byte)
		err = echoOne(ctx, c, typ, rd, bp, seen)
		bufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

// echoOne echoes the message being read from rd, in one frame if it fits
// in wholeMax; *bp grows as needed.
func echoOne(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, rd io.Reader, bp *[]byte, seen func(bool, []byte, int64)) error {
	buf := (*bp)[:min(cap(*bp), wholeMax)]
	n := 0
	for {
		if n == len(buf) {
			if n >= wholeMax {
				size, err := stream(ctx, c, typ, buf, rd)
				if seen != nil && err == nil {
					seen(typ == websocket.MessageText, nil, size)
				}
				return err
			}
			// Exactly twice, up to wholeMax: append may round a
			// capacity up, and this buffer's length is the limit.
			bigger := midpage.Make(min(2*n, wholeMax))
			copy(bigger, buf)
			buf, *bp = bigger, bigger
		}
		m, err := rd.Read(buf[n:])
		n += m
		if err == io.EOF {
			if seen != nil {
				seen(typ == websocket.MessageText, buf[:n], int64(n))
			}
			return c.Write(ctx, typ, buf[:n])
		}
		if err != nil {
			return err
		}
	}
}

// stream echoes a message longer than wholeMax, or exactly as long: the
// reader says where it ends only on the next read. It returns the
// message's size.
func stream(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, head []byte, rd io.Reader) (int64, error) {
	var one [1]byte
	m, err := io.ReadFull(rd, one[:])
	if err == io.EOF {
		return int64(len(head)), c.Write(ctx, typ, head)
	}
	if err != nil {
		return 0, err
	}
	wr, err := c.Writer(ctx, typ)
	if err != nil {
		return 0, err
	}
	if _, err := wr.Write(head); err != nil {
		return 0, err
	}
	if _, err := wr.Write(one[:m]); err != nil {
		return 0, err
	}
	rest, err := io.Copy(wr, rd)
	if err != nil {
		return 0, err
	}
	return int64(len(head)+m) + rest, wr.Close()
}
