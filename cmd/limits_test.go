package cmd

import (
	"strings"
	"testing"
)

func TestLimitFlagErrors(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "origins.conf", "ProxyPass /ws/ ws://127.0.0.1:9/\n"+
		"WsgateAllowOrigin https://app.example.com\n"+
		"WsgateAllowOrigin   *.example.org https://bad.example.com/path\n"+
		"WsgateAllowOrigin\n")
	cases := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"bad --allow-origin", []string{"serve", "--pass", "/ ws://127.0.0.1:9/", "--allow-origin", "https://ok.example.com", "--allow-origin", "null"},
			[]string{`--allow-origin 2: "null": "null" is not allowed`}},
		{"--allow-origin glob in the middle", []string{"check", "--pass", "/ ws://127.0.0.1:9/", "--allow-origin", "app.*.example.com"},
			[]string{`--allow-origin 1: "app.*.example.com": "*" may only stand for the first labels of a host`}},
		{"directive errors", []string{"check", "--config", conf},
			[]string{conf + `:3:35: WsgateAllowOrigin https://bad.example.com/path: an origin has no path, query or fragment: "/path"`,
				conf + `:4:18: WsgateAllowOrigin: missing origin pattern`}},
		{"--max-tunnels", []string{"serve", "--pass", "/ ws://127.0.0.1:9/", "--max-tunnels", "-1"},
			[]string{"wsgate: --max-tunnels -1: want 0 (no limit) or more"}},
		{"--header-timeout", []string{"serve", "--pass", "/ ws://127.0.0.1:9/", "--header-timeout", "0s"},
			[]string{"wsgate: --header-timeout 0s: want a positive duration"}},
		{"--max-header-bytes", []string{"serve", "--pass", "/ ws://127.0.0.1:9/", "--max-header-bytes", "10"},
			[]string{"wsgate: --max-header-bytes 10: want 1024 to 67108864"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit = %d; want %d; stderr %q", r.code, exitUsage, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q; want nothing: nothing started", r.stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want+"") {
					t.Errorf("stderr = %q; want a line with %q", r.stderr, want)
				}
			}
		})
	}
}

func TestCheckShowsOrigins(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "origins.conf", "WsgateAllowOrigin https://app.example.com\nProxyPass /ws/ ws://127.0.0.1:9/\n")
	r := runCmd(t, "", "check", "--config", conf, "--allow-origin", "http://localhost:*")
	if r.code != 0 || !strings.Contains(r.stdout, `WsgateAllowOrigin "https://app.example.com" "http://localhost:*"`) {
		t.Errorf("check = exit %d, stdout %q; want the file's pattern, then the flag's", r.code, r.stdout)
	}
}

func TestServeOriginPolicy(t *testing.T) {
	t.Parallel()
	backend := startEchoServer(t)
	conf := writeFile(t, "origins.conf", "WsgateAllowOrigin https://app.example.com\nProxyPass /ws/ ws://"+backend+"/\n")
	proxy, _ := background(t, "serve", "--listen", "127.0.0.1:0", "--no-live", "--config", conf,
		"--allow-origin", "*.example.org", "--max-tunnels", "5", "--header-timeout", "5s", "--max-header-bytes", "8192")
	cases := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},  // the file's
		{"https://chat.example.org", true}, // the flag's
		{"https://evil.example.net", false},
		{"", true}, // not a browser
	}
	for _, tc := range cases {
		args := []string{"dial", "--wait", "200ms"}
		if tc.origin != "" {
			args = append(args, "-H", "Origin: "+tc.origin)
		}
		r := runCmd(t, "hi\n", append(args, "ws://"+proxy+"/ws/x")...)
		switch {
		case tc.ok && (r.code != 0 || r.stdout != "hi\n"):
			t.Errorf("dial with Origin %q = exit %d, %q, stderr %q; want the echo", tc.origin, r.code, r.stdout, r.stderr)
		case !tc.ok && (r.code != 1 || !strings.Contains(r.stderr, "403")):
			t.Errorf("dial with Origin %q = exit %d, stderr %q; want 403", tc.origin, r.code, r.stderr)
		}
	}
}
