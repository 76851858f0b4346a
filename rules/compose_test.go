package rules

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestCompose: flags added to a file's table reach every virtual host, in
// the place a line at the top (Prepend) or the end (Append) would.
func TestCompose(t *testing.T) {
	tb, err := ParseFile("wsgate.conf", []byte(`ProxyPass /a/ ws://file/a/
<VirtualHost *:80>
ServerName v.example.com
ProxyPass /v/ ws://file/v/
</VirtualHost>
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	flags, err := FromFlags([]string{"/a/ ws://flag/a/"})
	if err != nil {
		t.Fatal(err)
	}
	tb.Prepend(flags.Rules, flags.Balancers)
	last, err := ParsePass(Pos{File: "backend URL"}, "/ ws://last/")
	if err != nil {
		t.Fatal(err)
	}
	tb.Append(last)
	tb.SetTimeout(7 * time.Second)
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"x.example.com", "/a/1", "ws://flag/a/1"},
		{"v.example.com", "/a/1", "ws://flag/a/1"},
		{"v.example.com", "/v/1", "ws://file/v/1"},
		{"v.example.com", "/z", "ws://last/z"},
		{"x.example.com", "/z", "ws://last/z"},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Host = tc.host
		m, err := tb.Match(r)
		if err != nil {
			t.Errorf("%s%s: %v", tc.host, tc.path, err)
			continue
		}
		if got := m.URL(); got != tc.want {
			t.Errorf("%s%s = %s; want %s", tc.host, tc.path, got, tc.want)
		}
	}
	for _, s := range tb.Servers() {
		if s.Timeout != 7*time.Second {
			t.Errorf("a server's Timeout = %v; want 7s", s.Timeout)
		}
	}
}
