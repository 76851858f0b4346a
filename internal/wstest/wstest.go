// Package wstest is an echo backend for tests that need one the project's
// own echo package does not offer: one that compresses (permessage-deflate,
// coder/websocket's modes), marks its echoes, or splits them into frames.
// Tests only.
package wstest

import (
	"net/http"

	"github.com/coder/websocket"
)

// Echo is how the backend echoes.
type Echo struct {
	Compression websocket.CompressionMode
	// Threshold is the smallest message compressed; 0 is coder/websocket's
	// default (128 bytes with context takeover), 1 compresses every one.
	Threshold int
	// Prefix is written before each echo ("echo "), so that an echo is
	// never taken for the message itself.
	Prefix string
	// Pieces writes Prefix and the message as two writes of one message,
	// which with compression go out as two frames.
	Pieces bool
	// OriginPatterns are the origins accepted besides the request's own
	// host (a page served from another port); "*" accepts any.
	OriginPatterns []string
	// CloseBack answers a close with the same code and "bye".
	CloseBack bool
}

// Handler echoes every message back with its type, up to 1 MiB each.
func (e Echo) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: e.Compression,
			CompressionThreshold: e.Threshold, OriginPatterns: e.OriginPatterns})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				if s := websocket.CloseStatus(err); s != -1 && e.CloseBack {
					c.Close(s, "bye")
				}
				return
			}
			if e.echo(r, c, typ, p) != nil {
				return
			}
		}
	})
}

func (e Echo) echo(r *http.Request, c *websocket.Conn, typ websocket.MessageType, p []byte) error {
	if !e.Pieces {
		return c.Write(r.Context(), typ, append([]byte(e.Prefix), p...))
	}
	w, err := c.Writer(r.Context(), typ)
	if err != nil {
		return err
	}
	w.Write([]byte(e.Prefix))
	w.Write(p)
	return w.Close()
}
