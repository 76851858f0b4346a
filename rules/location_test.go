package rules

import (
	"crypto/tls"
	"net/http"
	"slices"
	"testing"
)

func TestFnmatchTest(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"/app/", false}, {"^/lmq/", false}, {"^/api/(v1|v2)/", false},
		{"^/lm/(.*)$", true}, {"/w?", true}, {"/a[0-9]", true}, {"/a[", false},
		{`/a\*`, false}, {`/a\[x]`, false}, {"/a]", false},
	}
	for _, tc := range tests {
		if got := fnmatchTest(tc.s); got != tc.want {
			t.Errorf("fnmatchTest(%q) = %v; want %v", tc.s, got, tc.want)
		}
	}
}

func TestLocationMatches(t *testing.T) {
	tests := []struct {
		loc  Location
		uri  string
		want bool
	}{
		{Location{Path: "/foo"}, "/foo", true},
		{Location{Path: "/foo"}, "/foo/x", true},
		{Location{Path: "/foo"}, "/foobar", false},
		{Location{Path: "/foo"}, "/FOO", false},
		{Location{Path: "/app/"}, "/app", false},
		{Location{Path: "/"}, "/anything", true},
		{Location{Path: "/lm", Match: true}, "/x/lm/y", true},
		{Location{Path: "^/lm/", Match: true}, "/x/lm/y", false},
		{Location{Path: "(", Match: true}, "/(", false}, // built by hand, invalid: matches nothing
	}
	for _, tc := range tests {
		if got := tc.loc.matches(tc.uri); got != tc.want {
			t.Errorf("%s.matches(%q) = %v; want %v", &tc.loc, tc.uri, got, tc.want)
		}
	}
}

func TestServerURL(t *testing.T) {
	vh := &VirtualHost{ServerName: "vh.example"}
	tests := []struct {
		r    *http.Request
		vh   *VirtualHost
		want string
	}{
		{&http.Request{Host: "H.Example:80"}, nil, "http://h.example"},
		{&http.Request{Host: "h.example:8080"}, nil, "http://h.example:8080"},
		{&http.Request{Host: "h.example:443", TLS: &tls.ConnectionState{}}, nil, "https://h.example"},
		{&http.Request{Host: "h.example:80", TLS: &tls.ConnectionState{}}, nil, "https://h.example:80"},
		{&http.Request{Host: "[::1]:99"}, nil, "http://[::1]:99"},
		{&http.Request{}, vh, "http://vh.example"}, // HTTP/1.0 without Host
		{&http.Request{}, nil, "http://localhost"},
	}
	for _, tc := range tests {
		if got := serverURL(tc.r, tc.vh); got != tc.want {
			t.Errorf("serverURL(Host %q) = %s; want %s", tc.r.Host, got, tc.want)
		}
	}
}

// TestEncodedSlashesCanon pins what AllowEncodedSlashes NoDecode forwards
// (observed: see testdata/servers/encoded-slashes.txt).
func TestEncodedSlashesCanon(t *testing.T) {
	tb := &Table{AllowEncodedSlashes: "NoDecode"}
	for in, want := range map[string]string{
		"/a%2Fb":      "/a%2Fb",
		"/a%2fb c":    "/a%2fb%20c",
		"/a%25b":      "/a%2525b",
		"/%2F%2F":     "/%2F%2F",
		"/plain/path": "/plain/path",
	} {
		if got := tb.canon(in); got != want {
			t.Errorf("canon(%q) = %q; want %q", in, got, want)
		}
	}
	if got := (&Table{}).canon("/a%2Fb"); got != "/a%252Fb" {
		t.Errorf("canon(/a%%2Fb) without NoDecode = %q; want /a%%252Fb", got)
	}
}

// TestMatchEdits: the header lines that apply are the main server's, the
// virtual host's, then those of each location the request falls in, in
// file order (the main server's locations first).
func TestMatchEdits(t *testing.T) {
	tb := mustParseFile(t, "edits", `
RequestHeader set X-Main 1
<Location /a/>
  RequestHeader set X-Main-Loc 1
</Location>
<VirtualHost *:80>
  ServerName v.test
  RequestHeader set X-Vhost 1
  ProxyPass /a/ http://127.0.0.1:9/
  <Location /a/b/>
    RequestHeader set X-Vhost-Loc 1
  </Location>
  <Location /elsewhere/>
    RequestHeader set X-Never 1
  </Location>
</VirtualHost>
`)
	m, err := tb.Match(&http.Request{RequestURI: "/a/b/c", Host: "v.test", Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Edits.RequestHeaders {
		got = append(got, e.Name)
	}
	if want := []string{"X-Main", "X-Vhost", "X-Main-Loc", "X-Vhost-Loc"}; !slices.Equal(got, want) {
		t.Errorf("Edits.RequestHeaders = %v; want %v", got, want)
	}
}
