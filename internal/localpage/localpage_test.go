package localpage

import "testing"

func TestIsLoopback(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.9.9.9:1": true, "[::1]:80": true, "[::ffff:127.0.0.1]:80": true, "::1": true,
		"192.0.2.7:5000": false, "[2001:db8::1]:80": false, "[::ffff:192.0.2.7]:80": false, "": false, "localhost:80": false,
	} {
		if got := IsLoopback(remote); got != want {
			t.Errorf("IsLoopback(%q) = %v; want %v", remote, got, want)
		}
	}
}
