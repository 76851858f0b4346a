package rules

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func mustFlags(t testing.TB, passes ...string) *Table {
	t.Helper()
	tb, err := FromFlags(passes)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestMatchRequest(t *testing.T) {
	tb := mustFlags(t, "/chat/ ws://127.0.0.1:9001/room/ upgrade=websocket", "/api https://api.internal:8443/v1")
	tests := []struct {
		name string
		req  *http.Request
		want Match
	}{
		{"origin-form", httptest.NewRequest("GET", "/chat/x?since=1", nil),
			Match{Rule: tb.Rules[0], Scheme: "ws", Host: "127.0.0.1:9001", RequestURI: "/room/x?since=1", AddHeaders: true}},
		{"absolute-form", httptest.NewRequest("GET", "http://front.example/api/users", nil),
			Match{Rule: tb.Rules[1], Scheme: "https", Host: "api.internal:8443", RequestURI: "/v1/users", AddHeaders: true}},
		{"hand-built request without RequestURI",
			&http.Request{Method: "GET", URL: &url.URL{Path: "/chat/a b", RawQuery: "q"}},
			Match{Rule: tb.Rules[0], Scheme: "ws", Host: "127.0.0.1:9001", RequestURI: "/room/a%20b?q", AddHeaders: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tb.Match(tc.req)
			if err != nil {
				t.Fatalf("Match(%q): %v", tc.req.RequestURI, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Match(%q) = %+v; want %+v", tc.req.RequestURI, got, tc.want)
			}
		})
	}
}

func TestMatchURL(t *testing.T) {
	m := Match{Scheme: "wss", Host: "h:8443", RequestURI: "/a?b"}
	if got, want := m.URL(), "wss://h:8443/a?b"; got != want {
		t.Errorf("URL() = %s; want %s", got, want)
	}
}

// TestMatchErrors pins the status and the reason of requests that are not
// proxied; the reasons end up in logs, so they name the rule responsible.
func TestMatchErrors(t *testing.T) {
	tb := mustFlags(t,
		"/x/private !",
		"/x/ ws://h/x/",
		"/nopath/ ws://h:1",
		"/nopath2/ ws://h:1 nocanon",
	)
	tests := []struct {
		target string
		want   RequestError
	}{
		{"/x/private/a", RequestError{404, `--pass 1: excluded by ProxyPass "/x/private" !`}},
		{"/y", RequestError{404, `no rule matches "/y"`}},
		{"/x/../../y", RequestError{400, `invalid URI path "/x/../../y": goes above the root (AH10244)`}},
		{"/x/%zz", RequestError{400, `invalid URI path "/x/%zz": bad %-escape (AH10244)`}},
		{"/x/a%2fb", RequestError{404, `encoded "/" or NUL in URI path "/x/a%2fb" (AH00026)`}},
		{"/x/a#b", RequestError{400, `invalid request target "/x/a#b": a fragment is not allowed`}},
		{"ftp://h/x/", RequestError{400, `invalid request target "ftp://h/x/": want a path or an http(s) URL`}},
		{"/x/a?b c", RequestError{403, "query to forward contains control characters or spaces (AH10409)"}},
		{"/nopath/a", RequestError{500, `--pass 3: ws://h:1 has no path, so "a" would be appended to its host name`}},
		{"/nopath2/?q", RequestError{500, `--pass 4: ws://h:1 has no path, so "?q" would be appended to its host name`}},
		{"/nopath2/a%41", RequestError{500, `--pass 4: ws://h:1 has no path, so "a%41" would be appended to its host name`}},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			m, err := tb.match(tc.target, nil)
			var got *RequestError
			if !errors.As(err, &got) {
				t.Fatalf("Match(%q) = %v, %v; want %v", tc.target, m, err, &tc.want)
			}
			if *got != tc.want {
				t.Errorf("Match(%q) = %d %q; want %d %q", tc.target, got.Status, got.Reason, tc.want.Status, tc.want.Reason)
			}
		})
	}
}

// TestDecodePathRelative: a path that does not start with "/" is refused,
// not normalised (a fuzzed "0/../0" wound the write index below zero).
func TestDecodePathRelative(t *testing.T) {
	for _, raw := range []string{"0/../0", "a/../..", "x", "", "*"} {
		p, err := decodePath(raw, "On")
		var re *RequestError
		if !errors.As(err, &re) || re.Status != 400 {
			t.Errorf("decodePath(%q) = %q, %v; want a 400", raw, p, err)
		}
	}
}

// TestMatchTargetWithoutPath covers the cases a target without a path
// handles fine: nothing, or a path, is appended.
func TestMatchTargetWithoutPath(t *testing.T) {
	tb := mustFlags(t, "/a/ ws://h:1", "/b ws://h:2", "/c ws://h:3 nocanon")
	tests := []struct{ target, want string }{
		{"/a/", "ws://h:1/"},
		{"/a/?q", "ws://h:1/?q"},
		{"/b", "ws://h:2/"},
		{"/b/x", "ws://h:2/x"},
		{"/c/x%41?q", "ws://h:3/x%41?q"},
		// The raw target fails alias_match at the "?", so the canonical
		// path is used: nothing is appended to the host.
		{"/c?q", "ws://h:3/?q"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			if got := result(tb.match(tc.target, nil)); got != tc.want {
				t.Errorf("Match(%q) = %s; want %s", tc.target, got, tc.want)
			}
		})
	}
}

func TestMatchEmptyTable(t *testing.T) {
	var tb Table
	_, err := tb.Match(httptest.NewRequest("GET", "/", nil))
	var re *RequestError
	if !errors.As(err, &re) || re.Status != http.StatusNotFound {
		t.Errorf("Match on an empty table = %v; want a 404", err)
	}
}

func TestAliasMatch(t *testing.T) {
	tests := []struct {
		uri, alias string
		want       int
	}{
		{"/ts2", "/ts2", 4},
		{"/ts2/a", "/ts2", 4},
		{"/ts2extra", "/ts2", 0},
		{"/ws", "/ws/", 0},
		{"/ws/", "/ws/", 4},
		{"/ws//a", "/ws/", 5},
		{"//ws/a", "/ws/", 5},
		{"/ws//a", "/ws", 3},
		{"/a", "//a", 2},
		{"/", "/", 1},
		{"/x", "/", 1},
		{"", "/", 0},
		{"/a", "/ab", 0},
	}
	for _, tc := range tests {
		if got := aliasMatch(tc.uri, tc.alias); got != tc.want {
			t.Errorf("aliasMatch(%q, %q) = %d; want %d", tc.uri, tc.alias, got, tc.want)
		}
	}
}

func TestCanonPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain/path", "/plain/path"},
		{"/~$-_.+!*'(),;:@&=", "/~$-_.+!*'(),;:@&="},
		{"/a b", "/a%20b"},
		{"/%", "/%25"},
		{"/?#", "/%3F%23"},
		{"/é", "/%C3%A9"},
		{"/\x00\x7f\xff", "/%00%7F%FF"},
	}
	for _, tc := range tests {
		if got := canonPath(tc.in); got != tc.want {
			t.Errorf("canonPath(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
