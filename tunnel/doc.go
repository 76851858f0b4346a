// Package tunnel is wsgate's upgrade-and-relay core: the part of Apache's
// mod_proxy_http / mod_proxy_wstunnel that takes a matched request, forwards
// its HTTP Upgrade to the backend and, once the backend has switched
// protocols, relays bytes both ways.
//
// The data path of one tunnel:
//
//	client ──HTTP Upgrade──▶ Server.ServeHTTP ──Table.Match──▶ rules.Match
//	                              │
//	                              ├─ no acceptable Upgrade ──▶ httputil.ReverseProxy (plain HTTP)
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
// Each direction runs on a goroutine while it has bytes to move. When its
// socket is drained it waits in the parker (one epoll set per server, on
// Linux), holding neither a goroutine nor a buffer, and a goroutine is
// started for it again when bytes arrive: an idle tunnel costs about 5 KiB.
//
// The package never sees rule text: it takes a *rules.Table, and exposes its
// counters as a Snapshot value that callers format as they like.
package tunnel
