// Package tunnel is wsgate's upgrade-and-relay core: the part of Apache's
// mod_proxy_http / mod_proxy_wstunnel that takes a matched request, forwards
// its HTTP Upgrade to the backend and, once the backend has switched
// protocols, relays bytes both ways.
//
// The data path of one tunnel:
//
//	client ──HTTP Upgrade──▶ Server.ServeHTTP ──Table.Match──▶ rules.Match
//	                              │
//	                              ├─ no acceptable Upgrade ──▶ httputil.ReverseProxy (plain HTTP;
//	                              │                             with Config.OnHTTP, bodies teed)
//	                              │
//	                              ▼
//	                         dial backend, write the upgrade request,
//	                         read its answer
//	                              │
//	           not a valid 101 ◀──┴──▶ valid 101: hijack the client, send it the 101
//	      (answered as an ordinary          │
//	       HTTP response, no tunnel)        ▼
//	                         ┌──────────── Tunnel ────────────┐
//	             client ───▶ │ relay(Up):   client→backend    │ ───▶ backend
//	             client ◀─── │ relay(Down): backend→client    │ ◀─── backend
//	                         └────────────────────────────────┘
//
// Each direction runs on a goroutine while it has bytes to move. How it
// reads and writes sits behind one seam (socket.go): the portable path
// (net.Conn: TLS, every system) or, for plain TCP on Linux, raw system
// calls, frame-sized reads and the parker (one epoll set per server), in
// which a quiet direction waits holding neither a goroutine nor a buffer:
// an idle tunnel costs about 6 KiB. docs/design.md ("Inside a tunnel")
// says which goroutine owns what, who may close what, and which locks
// exist.
//
// The package never sees rule text: it takes a *rules.Table, and exposes its
// counters as a Snapshot value that callers format as they like.
package tunnel
