package trace

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/wsgate/wsgate/tunnel"
)

// harPostData is a request's body in a HAR entry. HAR 1.2 gives it no
// "encoding": a body that is not text is base64 with "_encoding", as a
// response's content says "encoding".
type harPostData struct {
	MimeType  string `json:"mimeType"`
	Text      string `json:"text"`
	Encoding  string `json:"_encoding,omitempty"` // "base64"
	Comment   string `json:"comment,omitempty"`
	Truncated bool   `json:"_truncated,omitempty"`
}

// HTTP adds x, a plain HTTP exchange, as an ordinary entry: the request
// as the client sent it, the answer as wsgate wrote it, each body as far
// as it was kept. Its timings are "wait" until the answer's header and
// "receive" for its body.
func (h *HAR) HTTP(x tunnel.HTTPExchange) {
	e := newHTTPEntry(x)
	h.mu.Lock()
	defer h.mu.Unlock()
	e.id = uint64(len(h.http))
	h.http = append(h.http, e)
}

// newHTTPEntry is x's entry.
func newHTTPEntry(x tunnel.HTTPExchange) harEntry {
	wait := max(float64(x.Wait.Microseconds())/1e3, 0)
	receive := max(float64((x.Duration-x.Wait).Microseconds())/1e3, 0)
	proto := cmp.Or(x.Proto, "HTTP/1.1")
	comment := fmt.Sprintf("wsgate http request via %s to %s", x.Route, x.Backend)
	if x.Aborted {
		comment += ", answer cut short"
	}
	e := harEntry{
		StartedDateTime: x.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Time:            wait + receive,
		Request: harRequest{
			Method:      x.Method,
			URL:         x.URL,
			HTTPVersion: proto,
			Cookies:     []struct{}{},
			Headers:     harHeaders(withHost(x.RequestHeader, x.URL)),
			QueryString: harQuery(x.URL),
			HeadersSize: -1,
			BodySize:    int(x.Request.Len),
		},
		Response: harResponse{
			Status:      x.Status,
			StatusText:  http.StatusText(x.Status),
			HTTPVersion: proto,
			Cookies:     []struct{}{},
			Headers:     harHeaders(x.ResponseHeader),
			Content:     harBody(x.Response, x.ResponseHeader.Get("Content-Type")),
			RedirectURL: x.ResponseHeader.Get("Location"),
			HeadersSize: -1,
			BodySize:    int(x.Response.Len),
		},
		Timings: harTimings{Blocked: -1, DNS: -1, Connect: -1, Wait: wait, Receive: receive},
		Comment: comment,
		start:   x.Time,
	}
	if x.Request.Len > 0 {
		c := harBody(x.Request, x.RequestHeader.Get("Content-Type"))
		e.Request.PostData = &harPostData{MimeType: c.MimeType, Text: c.Text, Encoding: c.Encoding, Comment: c.Comment, Truncated: c.Truncated}
	}
	return e
}

// harBody is a body as HAR content: text when it is UTF-8 and not
// compressed, base64 otherwise; a compressed one has no text (a viewer
// would take the compressed bytes for the content) and says why.
func harBody(b tunnel.Body, contentType string) harContent {
	c := harContent{Size: int(b.Len), MimeType: cmp.Or(contentType, "x-unknown"), Truncated: b.Truncated}
	switch m := bodyMessage(b); {
	case b.Encoding != "":
		c.Comment = fmt.Sprintf("Content-Encoding %s: not decoded; size is the length as sent", b.Encoding)
		return c
	case isText(m):
		p, _ := payload(m)
		if utf8.Valid(p) {
			c.Text = string(p)
			break
		}
		fallthrough
	default:
		c.Text, c.Encoding = base64.StdEncoding.EncodeToString(b.Data), "base64"
	}
	if b.Truncated {
		c.Comment = fmt.Sprintf("the first %d of %d bytes (--trace-bytes)", len(b.Data), b.Len)
	}
	return c
}
