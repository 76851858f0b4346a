// Package localpage is what wsgate's own pages on the proxy's listeners
// (the status page, /metrics) do before they answer: only loopback
// clients unless the user allowed others, and only GET and HEAD. Route
// names, paths and client addresses are nobody else's business.
package localpage

import (
	"net"
	"net/http"
	"net/netip"
)

// Allowed reports whether r may read the page at path; when not, it has
// answered: 403 naming flag, the flag that lets any client in, unless
// allowRemote, or 405 for a method other than GET and HEAD.
func Allowed(w http.ResponseWriter, r *http.Request, path, flag string, allowRemote bool) bool {
	if !allowRemote && !IsLoopback(r.RemoteAddr) {
		http.Error(w, "403 Forbidden: "+path+" answers loopback clients only (serve "+flag+")", http.StatusForbidden)
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

// IsLoopback reports whether a RemoteAddr ("host:port") is a loopback
// address, IPv4-mapped IPv6 included.
func IsLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
