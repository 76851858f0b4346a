package tunnel

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkPlain is one plain HTTP request through the proxy on loopback:
// a 1 KiB POST answered with 1 KiB, over a kept-alive connection.
// allocs/op counts every goroutine's, the client's and the backend's
// included. "trace=on" sets Config.OnHTTP (with the default TraceBytes):
// the difference is what teeing both bodies and copying both headers
// costs; "trace=off" must not differ from before OnHTTP existed.
func BenchmarkPlain(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1<<10)
	backend := startBackend(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(body)
	}))
	b.Run("trace=off", func(b *testing.B) {
		proxy, _ := serveConfig(b, Config{Table: flagTable(b, "/ ws://"+backend+"/")})
		benchPlain(b, "http://"+proxy+"/poll", body)
	})
	b.Run("trace=on", func(b *testing.B) {
		n := 0
		proxy, _ := serveConfig(b, Config{Table: flagTable(b, "/ ws://"+backend+"/"), OnHTTP: func(x HTTPExchange) {
			n++
			if x.Response.Len != int64(len(body)) {
				b.Errorf("exchange with %d bytes of answer; want %d", x.Response.Len, len(body))
			}
		}})
		benchPlain(b, "http://"+proxy+"/poll", body)
		if n == 0 {
			b.Error("no exchange reported")
		}
	})
}

func benchPlain(b *testing.B, url string, body []byte) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.SetBytes(int64(2 * len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Post(url, "text/plain", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(body)) {
			b.Fatalf("got %d bytes; want %d", n, len(body))
		}
	}
}
