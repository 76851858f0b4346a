package rules

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A config golden (testdata/config, testdata/check) is a rules file, a
// "----" line, and what ParseFile makes of it, parsed as "wsgate.conf":
// the error text, or the warnings ("warning: ..."), the Check warnings
// ("check: ...") and the table dump.
type configGolden struct {
	path   string
	config string
	lines  []string
}

func readConfigGolden(t testing.TB, path string) configGolden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(data), "\n----\n")
	if !ok {
		t.Fatalf("%s: no ---- line", path)
	}
	return configGolden{path: path, config: head + "\n", lines: strings.Split(strings.TrimSuffix(tail, "\n"), "\n")}
}

func (g configGolden) write(t *testing.T, lines []string) {
	t.Helper()
	out := strings.TrimSuffix(g.config, "\n") + "\n----\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(g.path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parseOutcome is what a config golden records.
func parseOutcome(src string, opts Options) string {
	tb, err := ParseFile("wsgate.conf", []byte(src), opts)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, w := range tb.Warnings {
		out = append(out, "warning: "+w.Error())
	}
	for _, w := range tb.Check() {
		out = append(out, "check: "+w.Error())
	}
	if s := strings.TrimSuffix(tb.String(), "\n"); s != "" {
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// TestParseFileGolden checks testdata/config/*.txt; a file whose name
// starts with "strict-" is parsed with Options.Strict.
func TestParseFileGolden(t *testing.T) {
	for _, path := range goldenFiles(t, "config") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			got := parseOutcome(g.config, Options{Strict: strings.HasPrefix(filepath.Base(path), "strict-")})
			if *update {
				g.write(t, strings.Split(got, "\n"))
				return
			}
			if want := strings.Join(g.lines, "\n"); got != want {
				t.Errorf("ParseFile(%s) =\n%s\nwant\n%s", filepath.Base(path), got, want)
			}
		})
	}
}

// A route golden (testdata/route) is a rules file, a "----" line, and
// request lines:
//
//	TARGET [Name:value ...] -> OUTCOME
//
// A token starting with a double quote is a Go string literal (for spaces
// in a value: "Connection:keep-alive, Upgrade"). OUTCOME is the backend URL
// with the settings that differ from the defaults in brackets, or the
// status wsgate answers: Match's RequestError status, or 426 for a legacy
// rule whose Upgrade is refused.
type routeLine struct {
	target string
	header http.Header
	host   string
	want   string
	minor  int // HTTP/1.minor; "HTTP/1.0" among the tokens sets 0
}

func parseRouteLine(t testing.TB, l string) (routeLine, bool) {
	if l == "" || strings.HasPrefix(l, "#") {
		return routeLine{}, false
	}
	i := strings.LastIndex(l, " -> ")
	if i < 0 {
		t.Fatalf("route line %q: want TARGET [Name:value ...] -> OUTCOME", l)
	}
	rl := routeLine{header: http.Header{}, host: "localhost", want: l[i+4:], minor: 1}
	rest := l[:i]
	var toks []string
	for rest = strings.TrimLeft(rest, " "); rest != ""; rest = strings.TrimLeft(rest, " ") {
		if rest[0] == '"' {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("route line %q: %v", l, err)
			}
			s, _ := strconv.Unquote(q)
			toks = append(toks, s)
			rest = rest[len(q):]
			continue
		}
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			j = len(rest)
		}
		toks = append(toks, rest[:j])
		rest = rest[j:]
	}
	rl.target = toks[0]
	for _, h := range toks[1:] {
		if h == "HTTP/1.0" {
			rl.minor = 0
			continue
		}
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			t.Fatalf("route line %q: header %q has no colon", l, h)
		}
		if strings.EqualFold(k, "Host") {
			rl.host = v
			continue
		}
		rl.header.Add(k, v)
	}
	return rl, true
}

func (rl routeLine) request() *http.Request {
	return &http.Request{Method: "GET", RequestURI: rl.target, Header: rl.header, Host: rl.host, ProtoMajor: 1, ProtoMinor: rl.minor}
}

// routeOutcome is what wsgate does with a request, for route goldens.
func routeOutcome(tb *Table, r *http.Request) string {
	m, err := tb.Match(r)
	if err != nil {
		return result(m, err)
	}
	if m.Legacy {
		rule := m.Rule
		if m.Balancer != nil {
			// The first member stands for all: what the 426 depends on.
			rule = m.Member(m.Balancer.Members[0]).Rule
		}
		if _, ok := rule.UpgradeTo(strings.Join(r.Header.Values("Upgrade"), ", ")); !ok {
			return "426"
		}
	}
	var flags []string
	if m.Legacy {
		flags = append(flags, "legacy")
	}
	if m.PreserveHost {
		flags = append(flags, "preservehost")
	}
	if !m.AddHeaders {
		flags = append(flags, "noaddheaders")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"idle", m.IdleTimeout}, {"response", m.ResponseTimeout}, {"connect", m.ConnectTimeout}} {
		if d.d > 0 {
			flags = append(flags, d.name+"="+d.d.String())
		}
	}
	if len(flags) == 0 {
		return m.URL()
	}
	return m.URL() + " [" + strings.Join(flags, " ") + "]"
}

// replayRouteGoldens checks every "TARGET [Name:value ...] [@PORT] ->
// OUTCOME" line of testdata/DIR/*.txt against what outcome says of the
// request on the file's table, and rewrites the lines under -update.
func replayRouteGoldens(t *testing.T, dir string, outcome func(*Table, *http.Request) string) {
	for _, path := range goldenFiles(t, dir) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readConfigGolden(t, path)
			tb := mustParseFile(t, path, g.config)
			out := make([]string, len(g.lines))
			for i, l := range g.lines {
				out[i] = l
				sl, ok := parseServerLine(t, l)
				if !ok {
					continue
				}
				got := outcome(tb, sl.request())
				out[i] = l[:strings.LastIndex(l, " -> ")] + " -> " + got
				if got != sl.want && !*update {
					t.Errorf("%s: Match(%s) = %s; want %s", filepath.Base(path), l[:strings.LastIndex(l, " -> ")], got, sl.want)
				}
			}
			if *update {
				g.write(t, out)
			}
		})
	}
}

func mustParseFile(t testing.TB, path, src string) *Table {
	t.Helper()
	tb, err := ParseFile("wsgate.conf", []byte(src), Options{})
	if err != nil {
		t.Fatalf("%s:\n%v", path, err)
	}
	return tb
}

// TestRouteGolden checks testdata/route/*.txt.
func TestRouteGolden(t *testing.T) {
	replayRouteGoldens(t, "route", routeOutcome)
}

// TestParseFileRoundTrip checks that every table of testdata/config and
// testdata/route prints as a rules file that parses back into a table
// that prints the same.
func TestParseFileRoundTrip(t *testing.T) {
	var files []string
	for _, dir := range []string{"config", "route"} {
		files = append(files, goldenFiles(t, dir)...)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			tb, err := ParseFile("wsgate.conf", []byte(readConfigGolden(t, path).config), Options{})
			if err != nil {
				return // an errors golden
			}
			conf := tb.config()
			tb2, err := ParseFile("dump.conf", []byte(conf), Options{})
			if err != nil {
				t.Fatalf("the dump does not parse: %v\n%s", err, conf)
			}
			if got := tb2.config(); got != conf {
				t.Errorf("dump after round trip =\n%s\nwant\n%s", got, conf)
			}
		})
	}
}

func TestParseFileErrorTypes(t *testing.T) {
	_, err := ParseFile("f.conf", []byte("ProxyPas /a ws://h/\n"), Options{})
	var e *Error
	if !errors.As(err, &e) || e.Error() != `f.conf:1:1: ProxyPas: unknown directive (did you mean "ProxyPass"?)` {
		t.Errorf("ParseFile error = %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wsgate.conf")
	conf := "SSLEngine on\nSSLCertificateFile cert.pem\nSSLCertificateKeyFile /abs/key.pem\nSSLProxyCACertificateFile ca/ca.pem\nProxyPass / ws://h/\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := LoadFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tb.TLS, (TLSFiles{Pos: Pos{path, 1, 1}, CertFile: filepath.Join(dir, "cert.pem"), KeyFile: "/abs/key.pem",
		CertPos: Pos{path, 2, 1}, KeyPos: Pos{path, 3, 1}}); got != want {
		t.Errorf("TLS = %+v; want %+v", got, want)
	}
	if got, want := tb.BackendTLS.CAFile, filepath.Join(dir, "ca/ca.pem"); got != want {
		t.Errorf("CAFile = %s; want %s", got, want)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.conf"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v; want a not-exist error", err)
	}
}

// TestEveryApacheDirective: nothing Apache 2.4 accepts (with every module
// of Debian's apache2 loaded: apache-directives.txt) is an unknown
// directive or section to wsgate. Each is read, skipped with a warning,
// or refused for a reason of its own (Include, for now).
func TestEveryApacheDirective(t *testing.T) {
	if len(apacheNames) < 500 {
		t.Fatalf("apache-directives.txt holds %d names; want Apache's 700 or so", len(apacheNames))
	}
	for _, name := range apacheNames {
		src := name + " x\nProxyPass /ws/ ws://127.0.0.1:9001/\n"
		if name[0] == '<' {
			src = name + " x>\n</" + name[1:] + ">\nProxyPass /ws/ ws://127.0.0.1:9001/\n"
		}
		_, err := ParseFile("wsgate.conf", []byte(src), Options{})
		if err != nil && (strings.Contains(err.Error(), "unknown directive") || strings.Contains(err.Error(), "unknown section")) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
