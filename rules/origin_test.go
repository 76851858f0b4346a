package rules

import "testing"

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		pattern, origin string
		want            bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "HTTPS://App.Example.COM", true},
		{"HTTPS://APP.example.com", "https://app.example.com", true},
		{"https://app.example.com", "https://app.example.com:443", true},
		{"https://app.example.com", "http://app.example.com", false},
		{"https://app.example.com", "https://app.example.com:8443", false},
		{"https://app.example.com", "https://app.example.com.evil.net", false},
		{"https://app.example.com", "https://evilapp.example.com", false},
		{"https://app.example.com", "https://app.example.com/", false},
		{"https://app.example.com", "https://app.example.com https://x.net", false},
		{"app.example.com", "http://app.example.com", true},
		{"app.example.com", "https://app.example.com", true},
		{"app.example.com", "ftp://app.example.com", false},
		{"*.example.com", "https://a.example.com", true},
		{"*.example.com", "https://a.b.example.com", true},
		{"*.example.com", "https://example.com", false},
		{"*.example.com", "https://aexample.com", false},
		{"*.example.com", "https://a.example.com:8443", false},
		{"*.example.com", "https://a.example.com.evil.net", false},
		{"*.example.com", "null", false},
		{"http://localhost:*", "http://localhost:3000", true},
		{"http://localhost:*", "http://localhost", true},
		{"http://localhost:*", "https://localhost:3000", false},
		{"http://localhost:*", "http://localhost.evil.net:3000", false},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://localhost:8080", "http://localhost:8081", false},
		{"http://[::1]:*", "http://[::1]:5173", true},
		{"http://[::1]:*", "http://[::2]:5173", false},
		{"chrome-extension://abcdef", "chrome-extension://abcdef", true},
		{"*.example.com:*", "null", false},
		{"https://app.example.com", "", false},
	}
	for _, tc := range tests {
		if err := CheckOriginPattern(tc.pattern); err != nil {
			t.Fatalf("CheckOriginPattern(%q) = %v; want nil", tc.pattern, err)
		}
		if got := OriginAllowed([]string{tc.pattern}, tc.origin, true); got != tc.want {
			t.Errorf("OriginAllowed([%q], %q) = %v; want %v", tc.pattern, tc.origin, got, tc.want)
		}
	}
	if !OriginAllowed(nil, "https://evil.net", true) {
		t.Error("OriginAllowed(nil, ...) = false; want true: no patterns, no policy")
	}
	if !OriginAllowed([]string{"https://app.example.com"}, "", false) {
		t.Error("OriginAllowed without an Origin header = false; want true (not a browser)")
	}
}

func TestCheckOriginPatternErrors(t *testing.T) {
	for _, p := range []string{"", "null", "NULL", "*", "https://a.example.com/x", "a.*.example.com",
		"*", "*.", "https://", "http://h:", "http://h:123456", "http://h:x", "1x://h", "http://[::1", "https://*"} {
		if err := CheckOriginPattern(p); err == nil {
			t.Errorf("CheckOriginPattern(%q) = nil; want an error", p)
		}
	}
}
