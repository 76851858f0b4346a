// Package echo is wsgate's built-in WebSocket echo backend: the other end a
// newcomer needs to try the proxy at once (`wsgate serve --demo`), and the
// backend the tests and the load generator talk to.
package echo

import (
	_ "embed"
	"io"
	"log/slog"
	"net/http"

	"github.com/coder/websocket"
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
		err = serve(r, c)
		log.Info("echo: closed", "client", r.RemoteAddr, "status", int(websocket.CloseStatus(err)))
	})
}

// serve echoes each message. One that fits in a buffer goes back as one
// frame; a larger one is streamed back as it arrives, so memory stays
// bounded whatever the message size.
func serve(r *http.Request, c *websocket.Conn) error {
	ctx := r.Context()
	buf := make([]byte, 32<<10)
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		n, err := io.ReadFull(rd, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if err := c.Write(ctx, typ, buf[:n]); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		wr, err := c.Writer(ctx, typ)
		if err != nil {
			return err
		}
		if _, err := wr.Write(buf[:n]); err != nil {
			return err
		}
		if _, err := io.Copy(wr, rd); err != nil {
			return err
		}
		if err := wr.Close(); err != nil {
			return err
		}
	}
}
