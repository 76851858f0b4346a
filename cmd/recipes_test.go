package cmd

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/echo"
	"github.com/wsgate/wsgate/internal/apachetest"
)

// The recipes of docs/recipes.md: for each application, the Apache
// snippet of the kind its documentation gives (testdata/recipes/APP.conf),
// served by wsgate and sent a WebSocket upgrade and plain HTTP requests
// with the Host the snippet's ServerName names. Every expectation below
// was first observed on Apache httpd 2.4.71 running the same snippet, and
// TestRecipesApache replays them there.
//
// In a snippet, every 127.0.0.1:PORT is a backend: the test starts one per
// port on a free port and rewrites the address, and it points the
// /etc/letsencrypt/live/NAME/{fullchain,privkey}.pem files at a test
// certificate. Nothing else is changed.

// recipeCase is one request sent through a recipe and what should come of
// it. In expected values, {host} stands for the Host header that was sent
// (the server name and the listener's port, as a browser sends it),
// {backend} for the address of the backend that received the request, and
// {route} for that backend's balancer route.
type recipeCase struct {
	name string
	// tls sends the request over TLS, to the *:443 virtual host; else to
	// the *:80 one (or the only listener).
	tls    bool
	host   string // the server name; the Host header is host:port
	method string // GET when empty
	target string
	header []string // extra "Name: value" lines
	// ws makes the request a WebSocket upgrade (Upgrade: websocket,
	// Connection: Upgrade, a key and version 13); after a 101 one text
	// message goes through the tunnel and must come back.
	ws bool

	want recipeWant
	// note says why, where the outcome may surprise.
	note string
}

type recipeWant struct {
	status int
	// resp are response headers: the value of each (several joined with
	// " | "), or "" for absent.
	resp map[string]string
	// backend is the port (as written in the recipe) of the backend that
	// must receive the request, "*" for any of them, "" for none.
	backend string
	uri     string // the request target the backend received
	// bhdr are headers the backend received ("Host" included): the value
	// of each (several lines joined with ", "), or "" for absent.
	bhdr map[string]string
}

type recipe struct {
	name string
	// routes are the balancer routes of the backends, by port.
	routes map[string]string
	cases  []recipeCase
}

// xf is the X-Forwarded-* headers Apache adds for a request from
// 127.0.0.1 to the virtual host named server.
func xf(server string, more ...string) map[string]string {
	m := map[string]string{
		"X-Forwarded-For":    "127.0.0.1",
		"X-Forwarded-Host":   "{host}",
		"X-Forwarded-Server": server,
	}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

var recipes = []recipe{
	{name: "jupyter", cases: []recipeCase{
		{name: "kernel channels", tls: true, host: "jupyter.example.com", ws: true,
			target: "/api/kernels/4f1c/channels?session_id=ab12",
			want: recipeWant{status: 101, backend: "8888", uri: "/api/kernels/4f1c/channels?session_id=ab12",
				bhdr: xf("jupyter.example.com", "Host", "{host}", "X-Forwarded-Proto", "https", "Upgrade", "websocket")}},
		{name: "terminal", tls: true, host: "jupyter.example.com", ws: true,
			target: "/terminals/websocket/1",
			want:   recipeWant{status: 101, backend: "8888", uri: "/terminals/websocket/1"}},
		{name: "kernel list over the ws:// location", tls: true, host: "jupyter.example.com",
			target: "/api/kernels/",
			want:   recipeWant{status: 200, backend: "8888", uri: "/api/kernels/", bhdr: map[string]string{"Upgrade": ""}}},
		{name: "lab page", tls: true, host: "jupyter.example.com", target: "/lab/tree/a%20b.ipynb?reset",
			want: recipeWant{status: 200, backend: "8888", uri: "/lab/tree/a%20b.ipynb?reset",
				bhdr: xf("jupyter.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
		{name: "login redirect mapped back", tls: true, host: "jupyter.example.com", target: "/tree",
			header: []string{"X-Backend-Location: /login?next=%2Ftree"},
			want: recipeWant{status: 302, backend: "8888", uri: "/tree",
				resp: map[string]string{"Location": "https://{host}/login?next=%2Ftree"}}},
		{name: "events socket is not upgraded", tls: true, host: "jupyter.example.com", ws: true,
			target: "/api/events/subscribe",
			note:   "ProxyPass / http:// has no upgrade=, so the upgrade goes out as a plain GET",
			want: recipeWant{status: 200, backend: "8888", uri: "/api/events/subscribe",
				bhdr: map[string]string{"Upgrade": "", "Sec-Websocket-Version": "13"}}},
		{name: "http redirects to https", host: "jupyter.example.com", target: "/lab?x=1",
			want: recipeWant{status: 301, resp: map[string]string{"Location": "https://jupyter.example.com/lab?x=1"}}},
		{name: "http upgrade redirects too", host: "jupyter.example.com", ws: true, target: "/api/kernels/1/channels",
			want: recipeWant{status: 301, resp: map[string]string{"Location": "https://jupyter.example.com/api/kernels/1/channels"}}},
	}},
	{name: "jupyterhub", cases: []recipeCase{
		{name: "user server kernel", tls: true, host: "hub.example.com", ws: true,
			target: "/user/ada/api/kernels/7/channels?session_id=s",
			want: recipeWant{status: 101, backend: "8000", uri: "/user/ada/api/kernels/7/channels?session_id=s",
				bhdr: xf("hub.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
		{name: "hub page", tls: true, host: "hub.example.com", target: "/hub/home",
			want: recipeWant{status: 200, backend: "8000", uri: "/hub/home",
				resp: map[string]string{"Strict-Transport-Security": "max-age=63072000"},
				bhdr: xf("hub.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
		{name: "login redirect mapped back", tls: true, host: "hub.example.com", target: "/",
			header: []string{"X-Backend-Location: /hub/login"},
			want: recipeWant{status: 302, backend: "8000", uri: "/",
				resp: map[string]string{"Location": "https://{host}/hub/login", "Strict-Transport-Security": "max-age=63072000"}}},
		{name: "upgrade without Connection: upgrade is plain", tls: true, host: "hub.example.com", ws: true,
			header: []string{"Connection: keep-alive"}, target: "/user/ada/terminals/websocket/1",
			want: recipeWant{status: 200, backend: "8000", uri: "/user/ada/terminals/websocket/1",
				bhdr: map[string]string{"Upgrade": ""}}},
		{name: "http redirects to https", host: "hub.example.com", target: "/hub/login?next=%2Fhub%2F",
			want: recipeWant{status: 301, resp: map[string]string{"Location": "https://hub.example.com/hub/login?next=%2Fhub%2F"}}},
		{name: "http redirect with [NE] sends the decoded path", host: "hub.example.com", target: "/user/a%20b/tree/%7Ex",
			note: "%{REQUEST_URI} is the decoded path and [NE] leaves it unescaped: Apache sends a raw space in Location",
			want: recipeWant{status: 301, resp: map[string]string{"Location": "https://hub.example.com/user/a b/tree/~x"}}},
		{name: "http with another name is not redirected", host: "other.example.com", target: "/hub/",
			want: recipeWant{status: 404}},
	}},
	{name: "home-assistant", cases: []recipeCase{
		{name: "websocket API", tls: true, host: "ha.example.com", ws: true, target: "/api/websocket",
			want: recipeWant{status: 101, backend: "8123", uri: "/api/websocket",
				bhdr: xf("ha.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
		{name: "capitalised Upgrade", tls: true, host: "ha.example.com", ws: true, target: "/api/websocket",
			header: []string{"Upgrade: WebSocket"},
			want:   recipeWant{status: 101, backend: "8123", uri: "/api/websocket", bhdr: map[string]string{"Upgrade": "WebSocket"}}},
		{name: "frontend", tls: true, host: "ha.example.com", target: "/lovelace/0?edit=1",
			want: recipeWant{status: 200, backend: "8123", uri: "/lovelace/0?edit=1",
				bhdr: xf("ha.example.com", "Host", "{host}", "X-Forwarded-Proto", "https", "Upgrade", "")}},
		{name: "auth redirect mapped back", tls: true, host: "ha.example.com", target: "/auth/authorize?client_id=x",
			header: []string{"X-Backend-Location: /auth/login"},
			want: recipeWant{status: 302, backend: "8123", uri: "/auth/authorize?client_id=x",
				resp: map[string]string{"Location": "https://{host}/auth/login"}}},
	}},
	{name: "socketio", cases: []recipeCase{
		{name: "websocket transport", host: "chat.example.com", ws: true, target: "/socket.io/?EIO=4&transport=websocket",
			want: recipeWant{status: 101, backend: "3000", uri: "/socket.io/?EIO=4&transport=websocket",
				bhdr: xf("chat.example.com", "Host", "{backend}")}},
		{name: "long polling", host: "chat.example.com", target: "/socket.io/?EIO=4&transport=polling&t=Oa1",
			want: recipeWant{status: 200, backend: "3000", uri: "/socket.io/?EIO=4&transport=polling&t=Oa1",
				bhdr: xf("chat.example.com", "Host", "{backend}")}},
		{name: "upgrade with keep-alive, Upgrade", host: "chat.example.com", ws: true,
			header: []string{"Connection: keep-alive, Upgrade"}, target: "/socket.io/?EIO=4&transport=websocket&sid=x",
			want: recipeWant{status: 101, backend: "3000", uri: "/socket.io/?EIO=4&transport=websocket&sid=x"}},
	}},
	{name: "socketio-cluster", routes: map[string]string{"3000": "app01", "3001": "app02", "3002": "app03"}, cases: []recipeCase{
		{name: "first poll picks a node and names it", host: "chat.example.com", target: "/socket.io/?EIO=4&transport=polling",
			want: recipeWant{status: 200, backend: "*", uri: "/socket.io/?EIO=4&transport=polling",
				resp: map[string]string{"Set-Cookie": "SERVERID=sticky.{route}; path=/"}}},
		{name: "websocket follows the cookie", host: "chat.example.com", ws: true,
			target: "/socket.io/?EIO=4&transport=websocket&sid=s2", header: []string{"Cookie: io=s2; SERVERID=sticky.app02"},
			want: recipeWant{status: 101, backend: "3001", uri: "/socket.io/?EIO=4&transport=websocket&sid=s2",
				resp: map[string]string{"Set-Cookie": ""}}},
		{name: "poll follows the cookie", host: "chat.example.com",
			target: "/socket.io/?EIO=4&transport=polling&sid=s3", header: []string{"Cookie: SERVERID=sticky.app03"},
			want: recipeWant{status: 200, backend: "3002", uri: "/socket.io/?EIO=4&transport=polling&sid=s3",
				resp: map[string]string{"Set-Cookie": ""}}},
		{name: "websocket without a cookie", host: "chat.example.com", ws: true,
			target: "/socket.io/?EIO=4&transport=websocket",
			want: recipeWant{status: 101, backend: "*", uri: "/socket.io/?EIO=4&transport=websocket",
				resp: map[string]string{"Set-Cookie": ""}},
			note: "Header add (without always) does not touch a 101: the cookie comes with the first polling answer"},
		{name: "a stale route is replaced", host: "chat.example.com",
			target: "/socket.io/?EIO=4&transport=polling", header: []string{"Cookie: SERVERID=sticky.app09"},
			want: recipeWant{status: 200, backend: "*", uri: "/socket.io/?EIO=4&transport=polling",
				resp: map[string]string{"Set-Cookie": "SERVERID=sticky.{route}; path=/"}}},
	}},
	{name: "node-red", cases: []recipeCase{
		{name: "editor comms", tls: true, host: "nodered.example.com", ws: true, target: "/comms",
			want: recipeWant{status: 101, backend: "1880", uri: "/comms",
				bhdr: xf("nodered.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
		{name: "flow websocket endpoint", tls: true, host: "nodered.example.com", ws: true, target: "/ws/sensors?id=3",
			want: recipeWant{status: 101, backend: "1880", uri: "/ws/sensors?id=3"}},
		{name: "editor page", tls: true, host: "nodered.example.com", target: "/red/main.min.js?v=4.0",
			want: recipeWant{status: 200, backend: "1880", uri: "/red/main.min.js?v=4.0",
				bhdr: xf("nodered.example.com", "Host", "{host}", "X-Forwarded-Proto", "https")}},
	}},
	{name: "guacamole", cases: []recipeCase{
		{name: "websocket tunnel", tls: true, host: "remote.example.com", ws: true,
			target: "/guacamole/websocket-tunnel?token=T0K&GUAC_DATA_SOURCE=mysql&GUAC_ID=4",
			want: recipeWant{status: 101, backend: "8080", uri: "/guacamole/websocket-tunnel?token=T0K&GUAC_DATA_SOURCE=mysql&GUAC_ID=4",
				bhdr: xf("remote.example.com", "Host", "{backend}")}},
		{name: "http tunnel", tls: true, host: "remote.example.com", method: "POST", target: "/guacamole/tunnel?connect",
			want: recipeWant{status: 200, backend: "8080", uri: "/guacamole/tunnel?connect",
				bhdr: xf("remote.example.com", "Host", "{backend}")}},
		{name: "api", tls: true, host: "remote.example.com", target: "/guacamole/api/session/data/mysql/connections",
			want: recipeWant{status: 200, backend: "8080", uri: "/guacamole/api/session/data/mysql/connections"}},
		{name: "redirect mapped back", tls: true, host: "remote.example.com", target: "/guacamole/",
			header: []string{"X-Backend-Location: /guacamole/index.html"},
			want: recipeWant{status: 302, backend: "8080", uri: "/guacamole/",
				resp: map[string]string{"Location": "https://{host}/guacamole/index.html"}}},
		{name: "upgrade on the plain location is plain", tls: true, host: "remote.example.com", ws: true,
			target: "/guacamole/api/tokens",
			want:   recipeWant{status: 200, backend: "8080", uri: "/guacamole/api/tokens", bhdr: map[string]string{"Upgrade": ""}}},
		{name: "outside every location", tls: true, host: "remote.example.com", target: "/guacamole",
			want: recipeWant{status: 404}},
	}},
	{name: "novnc", cases: []recipeCase{
		{name: "websockify", tls: true, host: "vnc.example.com", ws: true, target: "/vnc/websockify",
			want: recipeWant{status: 101, backend: "6080", uri: "/websockify",
				bhdr: xf("vnc.example.com", "Host", "{backend}")}},
		{name: "page", tls: true, host: "vnc.example.com", target: "/vnc/vnc.html?path=vnc/websockify",
			want: recipeWant{status: 200, backend: "6080", uri: "/vnc.html?path=vnc/websockify"}},
		{name: "redirect mapped back", tls: true, host: "vnc.example.com", target: "/vnc/",
			header: []string{"X-Backend-Location: /vnc.html"},
			want: recipeWant{status: 302, backend: "6080", uri: "/",
				resp: map[string]string{"Location": "https://{host}/vnc/vnc.html"}}},
		{name: "outside /vnc/", tls: true, host: "vnc.example.com", target: "/vnc.html",
			want: recipeWant{status: 404}},
	}},
	{name: "code-server", cases: []recipeCase{
		{name: "workbench socket", host: "code.example.com", ws: true,
			target: "/stable-4a2b/?reconnectionToken=r1&reconnection=false&skipWebSocketFrames=false",
			want: recipeWant{status: 101, backend: "8080", uri: "/stable-4a2b/?reconnectionToken=r1&reconnection=false&skipWebSocketFrames=false",
				bhdr: xf("code.example.com", "Host", "{backend}")}},
		{name: "workbench page", host: "code.example.com", target: "/?folder=/home/ada/src",
			want: recipeWant{status: 200, backend: "8080", uri: "/?folder=/home/ada/src",
				bhdr: xf("code.example.com", "Host", "{backend}")}},
		{name: "static file with an encoded name", host: "code.example.com", target: "/stable-4a2b/static/a%20b.js",
			want: recipeWant{status: 200, backend: "8080", uri: "/stable-4a2b/static/a%20b.js"}},
		{name: "the rewrite re-encodes, nocanon never applies", host: "code.example.com", target: "/stable-4a2b/static/%7Ea%2Bb.js",
			note: "the !=websocket RewriteRule takes every plain request before the ProxyPass ... nocanon line",
			want: recipeWant{status: 200, backend: "8080", uri: "/stable-4a2b/static/~a+b.js"}},
		{name: "an encoded ? in the path is refused", host: "code.example.com", target: "/stable-4a2b/static/a%3Fb.js",
			note: "Apache 2.4.60+ (CVE-2024-38474): a RewriteRule whose result has a ? decoded from %3F is a 403 (AH10508) without [UnsafeAllow3F]",
			want: recipeWant{status: 403}},
		{name: "port forwarding host", host: "5173.code.example.com", ws: true, target: "/@vite/client",
			want: recipeWant{status: 101, backend: "8080", uri: "/@vite/client",
				bhdr: xf("code.example.com", "Host", "{backend}")}},
		{name: "login redirect mapped back", host: "code.example.com", target: "/",
			header: []string{"X-Backend-Location: /login"},
			want: recipeWant{status: 302, backend: "8080", uri: "/",
				resp: map[string]string{"Location": "http://{host}/login"}}},
	}},
	{name: "nextcloud", cases: []recipeCase{
		{name: "push websocket", tls: true, host: "cloud.example.com", ws: true, target: "/push/ws",
			want: recipeWant{status: 101, backend: "7867", uri: "/ws",
				bhdr: xf("cloud.example.com", "Host", "{backend}")}},
		{name: "push self-test", tls: true, host: "cloud.example.com", target: "/push/test/cookie",
			want: recipeWant{status: 200, backend: "7867", uri: "/test/cookie",
				resp: map[string]string{"Strict-Transport-Security": "max-age=15552000; includeSubDomains"}}},
		{name: "signaling websocket", tls: true, host: "cloud.example.com", ws: true, target: "/standalone-signaling/spreed/",
			want: recipeWant{status: 101, backend: "8081", uri: "/spreed/",
				bhdr: xf("cloud.example.com", "Host", "{backend}")}},
		{name: "signaling backend API", tls: true, host: "cloud.example.com", method: "POST",
			target: "/standalone-signaling/api/v1/room/abc?x=1",
			want: recipeWant{status: 200, backend: "8081", uri: "/api/v1/room/abc?x=1",
				bhdr: xf("cloud.example.com", "Host", "{backend}")}},
		{name: "signaling welcome", tls: true, host: "cloud.example.com", target: "/standalone-signaling/api/v1/welcome",
			want: recipeWant{status: 200, backend: "8081", uri: "/api/v1/welcome"}},
		{name: "nextcloud itself is not proxied", tls: true, host: "cloud.example.com", target: "/index.php/apps/files",
			want: recipeWant{status: 404, resp: map[string]string{"Strict-Transport-Security": "max-age=15552000; includeSubDomains"}}},
	}},
	{name: "mattermost", cases: []recipeCase{
		{name: "websocket API", tls: true, host: "chat.example.com", ws: true, target: "/api/v4/websocket?connection_id=&sequence_number=0",
			want: recipeWant{status: 101, backend: "8065", uri: "/api/v4/websocket?connection_id=&sequence_number=0",
				bhdr: xf("chat.example.com", "Host", "{host}")}},
		{name: "older websocket path", tls: true, host: "chat.example.com", ws: true, target: "/api/v3/users/websocket",
			want: recipeWant{status: 101, backend: "8065", uri: "/api/v3/users/websocket"}},
		{name: "Firefox's Connection: keep-alive, Upgrade", tls: true, host: "chat.example.com", ws: true,
			header: []string{"Connection: keep-alive, Upgrade"}, target: "/api/v4/websocket",
			note: "^Upgrade$ does not hold, but the [OR] lets ^WebSocket$ decide",
			want: recipeWant{status: 101, backend: "8065", uri: "/api/v4/websocket"}},
		{name: "websocket elsewhere is plain", tls: true, host: "chat.example.com", ws: true, target: "/api/v4/users/me",
			want: recipeWant{status: 200, backend: "8065", uri: "/api/v4/users/me", bhdr: map[string]string{"Upgrade": ""}}},
		{name: "Connection: Upgrade alone", tls: true, host: "chat.example.com", ws: true,
			header: []string{"Upgrade: websocket, x"}, target: "/api/v4/websocket",
			note: "the [OR] lets Connection: Upgrade through, but Upgrade: websocket, x names no protocol the ws:// target allows: a plain GET",
			want: recipeWant{status: 200, backend: "8065", uri: "/api/v4/websocket", bhdr: map[string]string{"Upgrade": ""}}},
		{name: "api", tls: true, host: "chat.example.com", target: "/api/v4/users/me",
			want: recipeWant{status: 200, backend: "8065", uri: "/api/v4/users/me",
				bhdr: xf("chat.example.com", "Host", "{host}")}},
		{name: "login cookie domain", tls: true, host: "chat.example.com", method: "POST", target: "/api/v4/users/login",
			header: []string{"X-Backend-Set-Cookie: MMAUTHTOKEN=t; Path=/; Domain=127.0.0.1; HttpOnly"},
			want: recipeWant{status: 200, backend: "8065", uri: "/api/v4/users/login",
				resp: map[string]string{"Set-Cookie": "MMAUTHTOKEN=t; Path=/; Domain=chat.example.com; HttpOnly"}}},
	}},
	{name: "uptime-kuma", cases: []recipeCase{
		{name: "socket.io websocket", tls: true, host: "status.example.com", ws: true, target: "/socket.io/?EIO=4&transport=websocket",
			want: recipeWant{status: 101, backend: "3001", uri: "/socket.io/?EIO=4&transport=websocket",
				bhdr: xf("status.example.com", "Host", "{backend}")}},
		{name: "Upgrade: WebSocket is not =websocket", tls: true, host: "status.example.com", ws: true,
			header: []string{"Upgrade: WebSocket"}, target: "/socket.io/?EIO=4&transport=websocket",
			note: "=websocket without [NC] is case-sensitive: the request falls to ProxyPass / http://, which has no upgrade=",
			want: recipeWant{status: 200, backend: "3001", uri: "/socket.io/?EIO=4&transport=websocket", bhdr: map[string]string{"Upgrade": ""}}},
		{name: "dashboard", tls: true, host: "status.example.com", target: "/dashboard",
			want: recipeWant{status: 200, backend: "3001", uri: "/dashboard",
				resp: map[string]string{"Strict-Transport-Security": "max-age=63072000"},
				bhdr: xf("status.example.com", "Host", "{backend}")}},
		{name: "http redirects to https", host: "status.example.com", target: "/status/main",
			want: recipeWant{status: 301, resp: map[string]string{"Location": "https://status.example.com/status/main",
				"Strict-Transport-Security": ""}}},
	}},
	{name: "vaultwarden", cases: []recipeCase{
		{name: "notifications hub", tls: true, host: "vault.example.com", ws: true, target: "/notifications/hub?access_token=e30",
			want: recipeWant{status: 101, backend: "8000", uri: "/notifications/hub?access_token=e30",
				bhdr: xf("vault.example.com", "Host", "{host}", "X-Real-IP", "127.0.0.1", "X-Forwarded-Proto", "https")}},
		{name: "api", tls: true, host: "vault.example.com", target: "/api/sync?excludeDomains=true",
			want: recipeWant{status: 200, backend: "8000", uri: "/api/sync?excludeDomains=true",
				bhdr: xf("vault.example.com", "Host", "{host}", "X-Real-IP", "127.0.0.1", "X-Forwarded-Proto", "https")}},
		{name: "client's X-Forwarded-Proto is kept, X-Real-IP is not", tls: true, host: "vault.example.com", target: "/api/config",
			header: []string{"X-Forwarded-Proto: http", "X-Real-IP: 10.9.9.9"},
			want: recipeWant{status: 200, backend: "8000", uri: "/api/config",
				bhdr: map[string]string{"X-Real-IP": "127.0.0.1", "X-Forwarded-Proto": "http"}}},
		{name: "the unanchored pattern", tls: true, host: "vault.example.com", ws: true, target: "/vault/notifications/hub/x?t=1",
			want: recipeWant{status: 101, backend: "8000", uri: "/notifications/hub/x?t=1"}},
		{name: "hub upgrade without Upgrade is plain", tls: true, host: "vault.example.com", target: "/notifications/hub/negotiate",
			method: "POST",
			want:   recipeWant{status: 200, backend: "8000", uri: "/notifications/hub/negotiate"}},
	}},
	{name: "guide-quirks", cases: []recipeCase{
		{name: "location with a comment after its >", host: "hub.domain.tld", ws: true, target: "/vw/notifications/hub?x=1",
			want: recipeWant{status: 101, backend: "8080", uri: "/notifications/hub?x=1",
				bhdr: xf("HUB.DOMAIN.TLD", "Host", "{backend}")}},
		{name: "ProxyPassReverse with a copied parameter maps back", host: "hub.domain.tld", target: "/login",
			header: []string{"X-Backend-Location: /welcome"},
			want: recipeWant{status: 302, backend: "8081", uri: "/login",
				resp: map[string]string{"Location": "http://{host}/welcome"},
				bhdr: xf("HUB.DOMAIN.TLD")}},
	}},
	{name: "legacy-wstunnel", cases: []recipeCase{
		{name: "upgrade spelt websocket", host: "legacy.example.com", ws: true, target: "/ws/chat",
			want: recipeWant{status: 101, backend: "8090", uri: "/ws/chat",
				bhdr: xf("legacy.example.com", "Upgrade", "WebSocket", "Connection", "Upgrade")}},
		{name: "upgrade spelt WEBSOCKET", host: "legacy.example.com", ws: true, target: "/ws/chat",
			header: []string{"Upgrade: WEBSOCKET"},
			want: recipeWant{status: 101, backend: "8090", uri: "/ws/chat",
				bhdr: xf("legacy.example.com", "Upgrade", "WebSocket", "Connection", "Upgrade")}},
		{name: "plain request on the ws:// path goes to the next rule", host: "legacy.example.com", target: "/ws/page",
			want: recipeWant{status: 200, backend: "8090", uri: "/ws/page", bhdr: map[string]string{"Upgrade": ""}}},
	}},
	{name: "gotify", cases: []recipeCase{
		{name: "stream", host: "push.example.com", ws: true, target: "/stream?token=CLIENT",
			want: recipeWant{status: 101, backend: "8070", uri: "/stream?token=CLIENT",
				bhdr: xf("push.example.com", "Host", "{host}")}},
		{name: "api", host: "push.example.com", target: "/message?limit=5",
			want: recipeWant{status: 200, backend: "8070", uri: "/message?limit=5",
				bhdr: xf("push.example.com", "Host", "{host}")}},
		{name: "stream without upgrade", host: "push.example.com", target: "/stream",
			want: recipeWant{status: 200, backend: "8070", uri: "/stream"}},
		{name: "redirect mapped back", host: "push.example.com", target: "/",
			header: []string{"X-Backend-Location: /login"},
			want: recipeWant{status: 302, backend: "8070", uri: "/",
				resp: map[string]string{"Location": "http://{host}/login"}}},
	}},
}

// TestRecipes serves each recipe with wsgate and checks every case.
func TestRecipes(t *testing.T) {
	t.Parallel()
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			backends := startRecipeBackends(t, recipePorts(t, rc), func() string { return "127.0.0.1:0" })
			conf := recipeFile(t, rc.name, backends)
			fronts := wsgateFronts(t, conf)
			runRecipeCases(t, rc, fronts, backends)
		})
	}
}

// TestRecipesCheck runs wsgate check on each recipe file as shipped: it
// must load (warnings allowed).
func TestRecipesCheck(t *testing.T) {
	t.Parallel()
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "recipes", rc.name+".conf")
			r := runCmd(t, "", "check", "-c", path)
			// Errors and warnings are FILE:LINE:COL: ..., the table's lines
			// FILE:LINE: ...
			checkError := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:\d+:\d+: `)
			var errs []string
			for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
				if m := checkError.FindString(l); m != "" && !strings.HasPrefix(l, m+"warning: ") {
					errs = append(errs, l)
				}
			}
			if r.code != 0 || r.stderr != "" || len(errs) > 0 || !strings.Contains(r.stdout, ": OK") {
				t.Errorf("wsgate check -c %s = exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0, warnings only, OK", path, r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestRecipesDoc checks that docs/recipes.md shows every recipe file as it
// is: each follows a "<!-- recipe: NAME" line, in an apache code block.
func TestRecipesDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "recipes.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("<!-- recipe: ([a-z-]+)[^\n]*-->\n```apache\n((?s:.*?))```\n").FindAllStringSubmatch(string(doc), -1)
	shown := map[string]string{}
	for _, b := range blocks {
		shown[b[1]] = b[2]
	}
	for _, rc := range recipes {
		text, err := os.ReadFile(filepath.Join("testdata", "recipes", rc.name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		switch s, ok := shown[rc.name]; {
		case !ok:
			t.Errorf("docs/recipes.md does not show %s.conf", rc.name)
		case s != string(text):
			t.Errorf("docs/recipes.md shows %s.conf differently from testdata/recipes/%s.conf", rc.name, rc.name)
		}
	}
	if len(shown) != len(recipes) {
		t.Errorf("docs/recipes.md shows %d recipes; the test has %d", len(shown), len(recipes))
	}
}

// TestRecipesApache replays the recipes against a real Apache httpd 2.4,
// so that the expectations record what Apache does:
//
//	WSGATE_APACHE=/usr/sbin/apache2 go test -run TestRecipesApache -v ./cmd/
//
// WSGATE_APACHE_MODULES overrides the module directory
// (/usr/lib/apache2/modules). WSGATE_APACHE_PORT=N makes Apache listen on
// ports from N upward and the backends on ports from N+49 upward, instead
// of free ports picked by the system. The snippet's <VirtualHost *:80> and
// <VirtualHost *:443> are given the two listeners' ports, and its
// ${APACHE_LOG_DIR} the test's directory; WSGATE_APACHE_DIR=DIR keeps each
// recipe's httpd.conf and logs in DIR/NAME instead of a temporary
// directory. With -v, every request is logged with what the backend
// received and what the client got.
func TestRecipesApache(t *testing.T) {
	t.Parallel()
	h := apachetest.Need(t)
	ports := &portSource{}
	if base := apachetest.Port(); base > 0 {
		ports.front, ports.back = base, base+49
	}
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) {
			backends := startRecipeBackends(t, recipePorts(t, rc), ports.backend)
			conf := recipeFile(t, rc.name, backends)
			fronts := startApacheRecipe(t, h, conf, ports)
			runRecipeCases(t, rc, fronts, backends)
		})
	}
}

// recipeFronts are the addresses a recipe is served on: plain for the
// requests without tls, secure for those with.
type recipeFronts struct{ plain, secure string }

func (f recipeFronts) addr(secure bool) string {
	if secure {
		return f.secure
	}
	return f.plain
}

// wsgateFronts serves conf with wsgate, as docs/recipes.md says to:
// `serve -c FILE --listen ADDR`, which serves TLS when a virtual host has
// SSLEngine on, and then only the virtual hosts with TLS. When the file
// has both a <VirtualHost *:80> and a <VirtualHost *:443>, the plain one
// is served by a second wsgate listening, as Apache would, on the ports
// the sections name (moved to free ports, whose listeners serve is handed)
// without --listen.
func wsgateFronts(t *testing.T, conf string) recipeFronts {
	t.Helper()
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := background(t, "serve", "-c", conf, "--listen", "127.0.0.1:0")
	f := recipeFronts{plain: addr}
	if !sslOn.Match(text) {
		return f
	}
	f.plain, f.secure = "", addr
	s := string(text)
	if strings.Contains(s, "<VirtualHost *:80>") && strings.Contains(s, "<VirtualHost *:443>") {
		addrs, held := handOver(t, 2)
		plain, secure := addrs[0], addrs[1]
		s = strings.ReplaceAll(s, "<VirtualHost *:80>", "<VirtualHost *:"+portOf(plain)+">")
		s = strings.ReplaceAll(s, "<VirtualHost *:443>", "<VirtualHost *:"+portOf(secure)+">")
		moved := filepath.Join(filepath.Dir(conf), "ports-"+filepath.Base(conf))
		if err := os.WriteFile(moved, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		backgroundWith(t, held, "serve", "-c", moved)
		f.plain = plain
	}
	return f
}

var sslOn = regexp.MustCompile(`(?mi)^\s*SSLEngine\s+on`)

func runRecipeCases(t *testing.T, rc recipe, fronts recipeFronts, backends map[string]*recipeBackend) {
	for _, tc := range rc.cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			defer func() {
				if t.Failed() && tc.note != "" {
					t.Log("note: " + tc.note)
				}
			}()
			addr := fronts.addr(tc.tls)
			if addr == "" {
				t.Fatalf("no listener for this case (tls %v)", tc.tls)
			}
			_, port, _ := net.SplitHostPort(addr)
			host := tc.host + ":" + port
			id := rc.name + "/" + tc.name
			got := sendRecipeRequest(t, addr, tc, host, id)
			seen := findSeen(backends, id)
			logRecipe(t, tc, got, seen)

			expand := func(s string) string {
				s = strings.ReplaceAll(s, "{host}", host)
				if seen != nil {
					s = strings.ReplaceAll(s, "{backend}", seen.backend.addr)
					s = strings.ReplaceAll(s, "{route}", rc.routes[seen.backend.port])
				}
				return s
			}
			if got.err != "" {
				t.Fatalf("%s %s: %s", tc.methodOr(), tc.target, got.err)
			}
			if got.status != want.status {
				t.Errorf("status %d; want %d (body %q)", got.status, want.status, got.body)
			}
			if tc.ws && got.status == 101 && got.echo != "ping" {
				t.Errorf("message through the tunnel came back as %q; want \"ping\"", got.echo)
			}
			for _, name := range sortedKeys(want.resp) {
				if v, w := strings.Join(got.header.Values(name), " | "), expand(want.resp[name]); v != w {
					t.Errorf("response header %s: %q; want %q", name, v, w)
				}
			}
			switch {
			case want.backend == "" && seen != nil:
				t.Errorf("backend %s received %s; want no request to reach a backend", seen.backend.port, seen.uri)
			case want.backend != "" && seen == nil:
				t.Errorf("no backend received the request; want backend %s to get %s", want.backend, want.uri)
			case seen != nil:
				if want.backend != "*" && seen.backend.port != want.backend {
					t.Errorf("backend %s received it; want %s", seen.backend.port, want.backend)
				}
				if seen.uri != want.uri {
					t.Errorf("backend received %s; want %s", seen.uri, want.uri)
				}
				for _, name := range sortedKeys(want.bhdr) {
					var v string
					if name == "Host" {
						v = seen.host
					} else {
						v = strings.Join(seen.header.Values(name), ", ")
					}
					if w := expand(want.bhdr[name]); v != w {
						t.Errorf("backend received %s: %q; want %q", name, v, w)
					}
				}
			}
		})
	}
}

func (tc recipeCase) methodOr() string {
	if tc.method == "" {
		return "GET"
	}
	return tc.method
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func logRecipe(t *testing.T, tc recipeCase, got recipeResult, seen *seenRequest) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (ws %v, tls %v, host %s): ", tc.methodOr(), tc.target, tc.ws, tc.tls, tc.host)
	fmt.Fprintf(&b, "client got %d", got.status)
	for _, h := range []string{"Location", "Set-Cookie", "Strict-Transport-Security", "Upgrade", "X-Backend"} {
		if v := got.header.Values(h); len(v) > 0 {
			fmt.Fprintf(&b, " %s=%q", h, strings.Join(v, " | "))
		}
	}
	if seen == nil {
		b.WriteString("; no backend")
	} else {
		fmt.Fprintf(&b, "; backend %s got %s %s Host=%q", seen.backend.port, seen.method, seen.uri, seen.host)
		for _, h := range []string{"Upgrade", "Connection", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Server",
			"X-Forwarded-Proto", "X-Real-Ip", "Cookie"} {
			if v := seen.header.Values(h); len(v) > 0 {
				fmt.Fprintf(&b, " %s=%q", h, strings.Join(v, ", "))
			}
		}
	}
	t.Log(b.String())
}

// recipePorts lists the backend ports a recipe's file names, in order.
func recipePorts(t *testing.T, rc recipe) []string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "recipes", rc.name+".conf"))
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, m := range recipeAddr.FindAllStringSubmatch(string(text), -1) {
		if !slices.Contains(ports, m[1]) {
			ports = append(ports, m[1])
		}
	}
	return ports
}

var (
	recipeAddr     = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	recipeCertFile = regexp.MustCompile(`/etc/letsencrypt/live/[^/\s]+/(fullchain|privkey)\.pem`)
)

// recipeFile is testdata/recipes/NAME.conf with its backends' addresses
// and certificate files replaced, written to a temporary directory.
func recipeFile(t *testing.T, name string, backends map[string]*recipeBackend) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "recipes", name+".conf"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := recipeCertificate(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	for p, s := range map[string]string{cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := recipeAddr.ReplaceAllStringFunc(string(text), func(a string) string {
		return backends[strings.TrimPrefix(a, "127.0.0.1:")].addr
	})
	s = recipeCertFile.ReplaceAllStringFunc(s, func(f string) string {
		if strings.HasSuffix(f, "/fullchain.pem") {
			return cert
		}
		return key
	})
	p := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var recipeCert struct {
	once      sync.Once
	cert, key string
}

// recipeCertificate is one test certificate for all the recipes (making a
// key takes a while).
func recipeCertificate(t *testing.T) (certPEM, keyPEM string) {
	recipeCert.once.Do(func() { recipeCert.cert, recipeCert.key = testCertificate(t) })
	return recipeCert.cert, recipeCert.key
}

// recipeBackend is one application's server: it records every request,
// answers WebSocket upgrades with the echo handler, and answers other
// requests 200, or as the X-Backend-Location (a 302 to this path on the
// backend's own address, as an application that does not know it is
// behind a proxy would) and X-Backend-Set-Cookie request headers ask.
type recipeBackend struct {
	port string // as written in the recipe
	addr string // where it listens
	srv  *http.Server
	ws   http.Handler

	mu   sync.Mutex
	seen map[string]*seenRequest // by X-Test-Id
}

type seenRequest struct {
	backend *recipeBackend
	method  string
	uri     string
	host    string
	header  http.Header
}

func startRecipeBackends(t *testing.T, ports []string, listenAddr func() string) map[string]*recipeBackend {
	t.Helper()
	m := map[string]*recipeBackend{}
	for _, p := range ports {
		ln, err := net.Listen("tcp", listenAddr())
		if err != nil {
			t.Fatal(err)
		}
		b := &recipeBackend{port: p, addr: ln.Addr().String(), ws: echo.Handler(echo.Options{}), seen: map[string]*seenRequest{}}
		b.srv = &http.Server{Handler: b}
		go b.srv.Serve(ln)
		t.Cleanup(func() { b.srv.Close() })
		m[p] = b
	}
	return m
}

func (b *recipeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.seen[r.Header.Get("X-Test-Id")] = &seenRequest{backend: b, method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone()}
	b.mu.Unlock()
	if r.Header.Get("Upgrade") != "" {
		b.ws.ServeHTTP(w, r)
		return
	}
	w.Header().Set("X-Backend", b.port)
	if c := r.Header.Get("X-Backend-Set-Cookie"); c != "" {
		w.Header().Set("Set-Cookie", c)
	}
	if l := r.Header.Get("X-Backend-Location"); l != "" {
		w.Header().Set("Location", "http://"+b.addr+l)
		w.WriteHeader(http.StatusFound)
	}
	fmt.Fprintf(w, "backend %s: %s %s\n", b.port, r.Method, r.RequestURI)
}

func findSeen(backends map[string]*recipeBackend, id string) *seenRequest {
	for _, b := range backends {
		b.mu.Lock()
		s := b.seen[id]
		b.mu.Unlock()
		if s != nil {
			return s
		}
	}
	return nil
}

// recipeResult is what the client got.
type recipeResult struct {
	status int
	header http.Header
	body   string
	echo   string // the message that came back through the tunnel
	err    string
}

// sendRecipeRequest sends tc on a raw connection to addr, so that the
// request line and headers are exactly those written, and after a 101
// sends one masked text message and reads the answer.
func sendRecipeRequest(t *testing.T, addr string, tc recipeCase, host, id string) (res recipeResult) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return recipeResult{err: err.Error()}
	}
	defer c.Close()
	if tc.tls {
		c = tls.Client(c, &tls.Config{ServerName: tc.host, InsecureSkipVerify: true})
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Test-Id: %s\r\n", tc.methodOr(), tc.target, host, id)
	has := func(name string) bool {
		return slices.ContainsFunc(tc.header, func(h string) bool {
			return strings.HasPrefix(strings.ToLower(h), strings.ToLower(name)+":")
		})
	}
	var key string
	if tc.ws {
		k := make([]byte, 16)
		rand.Read(k)
		key = base64.StdEncoding.EncodeToString(k)
		if !has("Upgrade") {
			req.WriteString("Upgrade: websocket\r\n")
		}
		if !has("Connection") {
			req.WriteString("Connection: Upgrade\r\n")
		}
		fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	} else if !has("Connection") {
		req.WriteString("Connection: close\r\n")
	}
	if tc.method == "POST" {
		req.WriteString("Content-Length: 0\r\n")
	}
	for _, h := range tc.header {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		return recipeResult{err: err.Error()}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return recipeResult{err: "reading the response: " + err.Error()}
	}
	res = recipeResult{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		res.body = string(body)
		return res
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if a := resp.Header.Get("Sec-WebSocket-Accept"); a != base64.StdEncoding.EncodeToString(sum[:]) {
		res.err = fmt.Sprintf("101 with Sec-WebSocket-Accept %q", a)
		return res
	}
	if err := writeClientFrame(c, 0x1, []byte("ping")); err != nil {
		res.err = "sending a message: " + err.Error()
		return res
	}
	op, msg, err := readServerFrame(br)
	if err != nil || op != 0x1 {
		res.err = fmt.Sprintf("reading the echo: opcode %d, %v", op, err)
		return res
	}
	res.echo = string(msg)
	// Close cleanly, so that the backend's handler ends.
	writeClientFrame(c, 0x8, binary.BigEndian.AppendUint16(nil, 1000))
	readServerFrame(br)
	return res
}

// writeClientFrame writes one masked, unfragmented frame with a short
// payload.
func writeClientFrame(w io.Writer, op byte, payload []byte) error {
	var mask [4]byte
	rand.Read(mask[:])
	f := []byte{0x80 | op, 0x80 | byte(len(payload))}
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	_, err := w.Write(f)
	return err
}

// readServerFrame reads one unmasked frame with a payload under 126
// bytes.
func readServerFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1] >= 126 {
		return 0, nil, fmt.Errorf("unexpected frame header % x", h)
	}
	payload = make([]byte, h[1])
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// portSource hands out the ports of TestRecipesApache: from front and
// back upward when set, else free ports.
type portSource struct {
	mu          sync.Mutex
	front, back int
}

func (p *portSource) next(n *int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *n == 0 {
		return "127.0.0.1:0"
	}
	*n++
	return "127.0.0.1:" + strconv.Itoa(*n-1)
}

func (p *portSource) backend() string { return p.next(&p.back) }

// fixed reports whether the ports are WSGATE_APACHE_PORT's.
func (p *portSource) fixed() bool { return p.front > 0 }

// recipeModules are the modules the recipes need.
var recipeModules = []string{"mpm_event", "authz_core", "access_compat", "proxy", "proxy_http", "proxy_wstunnel",
	"proxy_balancer", "lbmethod_byrequests", "slotmem_shm", "rewrite", "alias", "headers", "setenvif", "ssl"}

// startApacheRecipe runs httpd in the foreground with the recipe conf,
// its <VirtualHost *:80> and <VirtualHost *:443> (or the main server)
// given ports of their own, and its LoadModule and Listen lines dropped
// for the preamble's.
func startApacheRecipe(t *testing.T, h apachetest.Httpd, conf string, ports *portSource) recipeFronts {
	t.Helper()
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?mi)^\s*(LoadModule|Listen)\s.*$`).ReplaceAllString(string(text), "")
	n := 1
	if strings.Contains(body, "<VirtualHost *:443>") {
		n = 2
	}
	// config serves the recipe on addrs: plain, then secure.
	config := func(addrs []string) apachetest.Config {
		c := apachetest.Config{Modules: recipeModules, Listen: addrs}
		if d := os.Getenv("WSGATE_APACHE_DIR"); d != "" {
			c.Dir = filepath.Join(d, filepath.Base(strings.TrimSuffix(conf, ".conf")))
			os.RemoveAll(c.Dir)
			if err := os.MkdirAll(c.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b := strings.ReplaceAll(body, "<VirtualHost *:80>", "<VirtualHost *:"+portOf(addrs[0])+">")
		if n == 2 {
			b = strings.ReplaceAll(b, "<VirtualHost *:443>", "<VirtualHost *:"+portOf(addrs[1])+">")
		}
		c.Directives = "LogLevel warn\n" + b
		return c
	}
	var addrs []string
	if ports.fixed() {
		for range n {
			addrs = append(addrs, ports.next(&ports.front))
		}
		h.Start(t, config(addrs))
	} else {
		addrs = h.StartOnFreePorts(t, n, config)
	}
	fronts := recipeFronts{plain: addrs[0]}
	if n == 2 {
		fronts.secure = addrs[1]
	}
	return fronts
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
