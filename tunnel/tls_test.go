package tunnel

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/rules"
)

// startTLSProxy is startProxy with a backend TLS configuration.
func startTLSProxy(t *testing.T, backendTLS *tls.Config, pass string) string {
	t.Helper()
	table, err := rules.FromFlags([]string{pass})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveConfig(t, Config{Table: table, BackendTLS: backendTLS, Logger: slog.New(slog.DiscardHandler)})
	return addr
}

func TestWSSBackend(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(echo.Handler(echo.Options{}))
	t.Cleanup(ts.Close)
	// httptest's certificate is for 127.0.0.1 and example.com: dialling
	// by IP checks the IP SAN; dialling "localhost" would fail.
	backend := "wss://" + ts.Listener.Addr().String() + "/"
	trusted := x509.NewCertPool()
	trusted.AddCert(ts.Certificate())

	cases := []struct {
		name   string
		tls    *tls.Config
		status int // 0: the tunnel works
	}{
		{"verified with the CA", &tls.Config{RootCAs: trusted}, 0},
		{"unknown CA", nil, http.StatusBadGateway},
		{"verification off", &tls.Config{InsecureSkipVerify: true}, 0},
		{"wrong server name", &tls.Config{RootCAs: trusted, ServerName: "other.test"}, http.StatusBadGateway},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := startTLSProxy(t, tc.tls, "/ "+backend)
			ctx := testContext(t)
			c, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/secure", nil)
			if tc.status != 0 {
				if err == nil || resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("Dial = %v, %v; want %d", resp, err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte("over tls")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != "over tls" {
				t.Fatalf("Read = %q, %v; want the echo", got, err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}
