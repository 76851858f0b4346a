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
//	             client ───▶ │ copyUp   (Up:   client→backend)│ ───▶ backend
//	             client ◀─── │ copyDown (Down: backend→client)│ ◀─── backend
//	                         └────────────────────────────────┘
//
// The package never sees rule text: it takes a *rules.Table, and exposes its
// counters as a Snapshot value that callers format as they like.
package tunnel
