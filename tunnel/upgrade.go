package tunnel

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/internal/wsproto"
	"github.com/wsgate/wsgate/rules"
)

// maxUpgradeBody bounds the body of an upgrade request. Apache forwards such
// a body (re-sent with Content-Length); WebSocket clients never send one.
const maxUpgradeBody = 64 << 10

// upgrade forwards the client's upgrade request to the backend and tunnels
// only if the backend switches protocols as asked. Anything else is answered
// as an ordinary HTTP response, so nothing the client sends afterwards can
// reach the backend as tunnel bytes (Apache before 2.4.47 tunnelled anyway:
// CVE-2019-17567). start is when the request arrived: the handshake's
// time is counted from it.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, m rules.Match, proto string, bt balanced, start time.Time) {
	body, err := upgradeBody(r)
	if err != nil {
		s.failMatch(w, r, m, err)
		return
	}
	began := time.Now()
	backend, err := s.dial(r.Context(), m)
	// A member that cannot be reached hands the request to the next one,
	// as long as nothing was sent to the client yet.
	for err != nil && bt.mem != nil && isDialError(err) {
		next, ferr := bt.failover(r, fmt.Errorf("dial backend %s: %w", m.URL(), err))
		if ferr != nil {
			err = ferr
			break
		}
		m = next
		backend, err = s.dial(r.Context(), m)
	}
	if err != nil {
		s.failMatch(w, r, m, fmt.Errorf("dial backend %s: %w", m.URL(), err))
		return
	}
	req, hs, err := s.upgradeRequest(r, m, proto, body)
	if err != nil {
		backend.Close()
		s.failMatch(w, r, m, err)
		return
	}
	// A stop that can wait no more closes the client's connection
	// (http.Server.Close), which cancels the request's context: the
	// exchange with the backend ends then too, whatever the backend does.
	unwatch := context.AfterFunc(r.Context(), func() { backend.SetDeadline(time.Unix(1, 0)) })
	tunnelled := false
	defer func() {
		if !tunnelled {
			backend.Close()
		}
	}()

	backend.SetDeadline(time.Now().Add(cmp.Or(m.ResponseTimeout, s.cfg.ResponseTimeout)))
	if _, err := backend.Write(req); err != nil {
		s.failMatch(w, r, m, fmt.Errorf("send upgrade to %s: %w", m.URL(), err))
		return
	}
	asked := time.Now()
	br := bufio.NewReader(backend)
	resp, err := readAnswer(br)
	if err != nil {
		s.failMatch(w, r, m, answerError(m, err))
		return
	}
	if s.logs(slog.LevelDebug) {
		// --verbose: the exchange as it was, for debugging a backend.
		s.log.Debug("upgrade exchange", "client", r.RemoteAddr, "backend", m.URL(),
			"sent", string(req), "answer", answerText(resp),
			"connect", asked.Sub(began).Round(time.Microsecond), "wait", time.Since(asked).Round(time.Microsecond))
	}
	if !unwatch() {
		s.failMatch(w, r, m, fmt.Errorf("read upgrade answer from %s: %w", m.URL(), errShuttingDown))
		return
	}
	backend.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		s.relayRefusal(w, r, m, resp, &bt)
		return
	}
	if err := checkSwitch(resp, proto, r.Header.Get("Sec-WebSocket-Key")); err != nil {
		s.failMatch(w, r, m, fmt.Errorf("backend %s: %w", m.URL(), err))
		return
	}

	t := &Tunnel{
		ID:      s.reg.nextID.Add(1),
		Client:  r.RemoteAddr,
		Path:    r.RequestURI,
		Backend: m.URL(),
		Route:   routeName(m.Rule),
		Start:   time.Now(),
		backend: backend,
		idle:    m.IdleTimeout,
		parker:  s.tunnelParker(),
		hs:      hs,
	}
	t.hs.status = resp.StatusCode
	if s.cfg.KeepHandshakes {
		t.hs.response = headerText(resp.Header)
	}
	t.watch(strings.EqualFold(proto, "websocket"), s.cfg.OnMessage, s.traceBytes)
	t.inflate(resp.Header)
	if err := s.reg.add(t, s.cfg.MaxTunnels); err != nil {
		s.failMatch(w, r, m, err)
		return
	}
	if bt.mem != nil {
		bt.mem.open.Add(1)
		bt.mem.total.Add(1)
	}
	res := result{closedBy: "client"}
	// end records the tunnel once it is over, whichever way.
	end := func() {
		s.finish(t, res)
		if bt.mem != nil {
			bt.mem.traffic.Add(t.flows[Up].bytes.Load() + t.flows[Down].bytes.Load())
			bt.mem.open.Add(-1)
		}
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		res.err = fmt.Errorf("hijack client connection: %w", err)
		s.failMatch(w, r, m, res.err)
		end()
		return
	}
	if hc, ok := client.(*headConn); ok {
		client = hc.NetConn() // the head is read: the relay wants the socket itself
	}
	tunnelled = true
	if !t.attach(client) {
		client.Close()
		res = result{closedBy: "proxy"}
		end()
		return
	}
	sent := writeSwitch(brw.Writer, resp)
	if res.err = brw.Writer.Flush(); res.err != nil {
		t.closeBoth()
		end()
		return
	}
	s.reg.opened(t.Route, time.Since(start))

	if s.logs(slog.LevelInfo) {
		s.log.Info("tunnel open", "id", t.ID, "client", t.Client, "path", t.Path, "backend", t.Backend, "upgrade", proto)
	}
	if s.cfg.OnTunnel != nil {
		s.cfg.OnTunnel(TunnelEvent{
			Info: t.info(), Method: r.Method, URL: clientURL(r), Proto: r.Proto,
			RequestHeader: r.Header.Clone(), Status: resp.StatusCode, ResponseHeader: sent,
		})
	}
	// The relay runs on a goroutine of its own and the handler returns:
	// net/http's connection state, its buffers and the handler's stack,
	// grown by parsing the request, are freed for the tunnel's lifetime.
	t.start(buffered(brw.Reader), buffered(br), func(r result) {
		res = r
		end()
	})
}

// routeName names the rule of a tunnel in per-route totals.
func routeName(r *rules.Rule) string { return r.Pos.String() + " " + r.Path }

// answerText is a response's status line and header as the backend sent
// them (as Go read them: canonical names, sorted).
func answerText(resp *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\r\n", resp.Proto, resp.Status)
	resp.Header.Write(&b)
	return b.String()
}

// logs reports whether a line at level would be written. Callers on the
// handshake path ask first: the arguments of a line that is not written
// still cost allocations (--quiet, and the bench comparison, run so).
func (s *Server) logs(level slog.Level) bool {
	return s.log.Enabled(context.Background(), level)
}

// clientURL is the URL the client asked for, as a browser would show it.
func clientURL(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	return scheme + "://" + r.Host + r.RequestURI
}

// finish records a tunnel that ended, logs its close line and reports it.
func (s *Server) finish(t *Tunnel, res result) {
	ti := t.info()
	ti.End, ti.ClosedBy = time.Now(), res.closedBy
	if res.err != nil && !errors.Is(res.err, errIdle) && res.closedBy != "proxy" {
		ti.Error = res.err.Error()
	}
	s.reg.remove(ti, t)
	if s.logs(slog.LevelInfo) {
		s.logClosed(ti)
	}
	if s.cfg.OnTunnel != nil && t.client != nil {
		s.cfg.OnTunnel(TunnelEvent{Closed: true, Info: ti})
	}
}

// logClosed writes a tunnel's close line.
func (s *Server) logClosed(ti TunnelInfo) {
	attrs := []any{
		"id", ti.ID, "client", ti.Client, "path", ti.Path, "backend", ti.Backend, "route", ti.Route,
		"status", http.StatusSwitchingProtocols, "duration", ti.End.Sub(ti.Start).Round(time.Millisecond).String(),
		"up", ti.Up.Bytes, "down", ti.Down.Bytes, "up_messages", ti.Up.Messages, "down_messages", ti.Down.Messages,
		"client_close", ti.Up.CloseCode, "backend_close", ti.Down.CloseCode, "close_first", ti.CloseFirst,
		"closed_by", ti.ClosedBy,
	}
	if ti.Error != "" {
		attrs = append(attrs, "error", ti.Error)
	}
	s.log.Info("tunnel closed", attrs...)
}

// maxInterim bounds the informational answers skipped before the real one.
const maxInterim = 8

// readAnswer reads the backend's answer to the upgrade. Interim answers
// (100 Continue, 103 Early Hints: 1xx other than 101) come before the real
// one and are skipped, as a client skips them (RFC 9110 §15.2); a status
// that is not three digits from 100 up is not HTTP and fails, as does any
// other garbage.
func readAnswer(br *bufio.Reader) (*http.Response, error) {
	for range maxInterim {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code < 100 || code > 999:
			return nil, fmt.Errorf("invalid status %d", code)
		case code < 200 && code != http.StatusSwitchingProtocols:
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("more than %d interim answers", maxInterim)
}

// answerError is the error of a backend's answer that could not be read:
// a timeout or a hang-up say so themselves (failReason), anything else is
// an answer that is not HTTP.
func answerError(m rules.Match, err error) error {
	err = fmt.Errorf("read upgrade answer from %s: %w", m.URL(), err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return &reasonError{"bad answer from backend", err}
}

// upgradeBody reads the body of an upgrade request, once, before any
// member is tried: Apache forwards it re-sent with Content-Length.
func upgradeBody(r *http.Request) ([]byte, error) {
	if r.ContentLength == 0 || r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpgradeBody+1))
	if err != nil {
		return nil, &rules.RequestError{Status: http.StatusBadRequest, Reason: "read request body: " + err.Error()}
	}
	if len(body) > maxUpgradeBody {
		return nil, errBodyTooLarge
	}
	return body, nil
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// upgradeRequest is the request sent to the backend, built from the inbound
// one without changing it, and the handshake that keeps its header.
func (s *Server) upgradeRequest(r *http.Request, m rules.Match, proto string, body []byte) ([]byte, handshake, error) {
	if strings.ContainsAny(m.RequestURI, " \r\n\x00") {
		return nil, handshake{}, &rules.RequestError{Status: http.StatusBadRequest, Reason: "mapped request target contains a space or control character"}
	}
	h, host := outboundHeader(r, m, s.serverNameOf(m))
	if s.cfg.StripCompression {
		stripDeflate(h)
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", sentUpgrade(m, proto))
	if body != nil {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	var b bytes.Buffer
	b.Grow(1024)
	b.WriteString(r.Method + " " + m.RequestURI + " HTTP/1.1\r\nHost: " + crlfToSpace.Replace(host) + "\r\n")
	writeHeader(&b, h)
	b.WriteString("\r\n")
	var hs handshake
	if s.cfg.KeepHandshakes {
		hs.request = b.String()
	}
	b.Write(body)
	return b.Bytes(), hs, nil
}

// sentUpgrade is the Upgrade line sent to the backend: the protocol the
// client asked for, except under ProxyWebsocketFallbackToProxyHttp Off,
// where Apache's legacy mod_proxy_wstunnel writes its own (observed on
// 2.4.71): the rule's upgrade= as written ("foo,WebSocket" too), and
// "WebSocket" by default and for NONE (which Apache refuses, docs/apache.md
// difference 2). For upgrade=ANY Apache sends "*", which every backend
// refuses; wsgate sends the client's protocol (difference 8).
func sentUpgrade(m rules.Match, proto string) string {
	if !m.Legacy {
		return proto
	}
	switch u := m.Rule.Upgrade; {
	case u == "", strings.EqualFold(u, "NONE"):
		return "WebSocket"
	case strings.EqualFold(u, "ANY"), u == "*":
		return proto
	default:
		return u
	}
}

// checkSwitch accepts a 101 only if it switches to the protocol that was
// asked for and, for WebSocket, proves it read this handshake with the right
// Sec-WebSocket-Accept (RFC 6455 §4.1). A backend that switches to anything
// else is an error, as in httputil.ReverseProxy and Apache ("Unexpected
// Upgrade", 502).
func checkSwitch(resp *http.Response, proto, key string) error {
	if got := headerValue(resp.Header, "Upgrade"); !strings.EqualFold(got, proto) {
		return &reasonError{"wrong Upgrade in 101", fmt.Errorf("switched to protocol %q, but %q was asked for", got, proto)}
	}
	if strings.EqualFold(proto, "websocket") {
		got := resp.Header.Get("Sec-WebSocket-Accept")
		if key == "" || got != wsproto.AcceptKey(key) {
			return &reasonError{"bad Sec-WebSocket-Accept",
				fmt.Errorf("answered 101 with Sec-WebSocket-Accept %q, which does not match the client's key", got)}
		}
	}
	return nil
}

// writeSwitch writes the 101 to the client: the backend's headers less the
// hop-by-hop ones, then Upgrade and Connection as Apache sends them. It
// returns the header it wrote.
func writeSwitch(w *bufio.Writer, resp *http.Response) http.Header {
	h := resp.Header.Clone()
	upgrade := headerValue(h, "Upgrade")
	removeHopByHop(h)
	h.Set("Upgrade", upgrade)
	h.Set("Connection", "Upgrade")
	w.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	writeHeader(w, h)
	w.WriteString("\r\n")
	return h
}

// relayRefusal passes a backend's non-101 answer to the client as an
// ordinary response, with the ProxyPassReverse and Header lines applied as
// to any proxied response (Apache's mod_proxy_http reads it as one). The
// client connection stays HTTP.
func (s *Server) relayRefusal(w http.ResponseWriter, r *http.Request, m rules.Match, resp *http.Response, bt *balanced) {
	defer resp.Body.Close()
	s.reg.fail(failure(r, m, resp.StatusCode, &reasonError{"upgrade refused by backend",
		fmt.Errorf("backend %s answered %s", m.URL(), resp.Status)}))
	h := w.Header()
	upgrade := headerValue(resp.Header, "Upgrade")
	for k, v := range resp.Header {
		h[k] = v
	}
	removeHopByHop(h)
	editBackendResponse(r, h, bt)
	// An Upgrade header (426 Upgrade Required) is kept only for a protocol
	// the rule allows, as Apache does.
	if _, ok := m.Rule.UpgradeTo(upgrade); ok {
		h.Set("Upgrade", upgrade)
		h.Set("Connection", "Upgrade")
	}
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	_, err := io.Copy(w, resp.Body)
	attrs := []any{"client", r.RemoteAddr, "path", r.RequestURI, "backend", m.URL(), "status", resp.StatusCode}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	s.log.Info("upgrade refused by backend", attrs...)
}

// buffered returns a copy of the bytes r has read ahead and not handed out:
// pipelined client bytes, or frames the backend sent right behind its 101.
func buffered(r *bufio.Reader) []byte {
	n := r.Buffered()
	if n == 0 {
		return nil
	}
	p, _ := r.Peek(n)
	return bytes.Clone(p)
}
