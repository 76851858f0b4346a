package rules

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// A golden file is a list of --pass values, a "----" line, and the
// expected output. Lines starting with "#" are comments, blank lines are
// ignored, in both halves.
type golden struct {
	path   string
	passes []string
	lines  []string // everything after "----", comments included
}

func readGolden(t testing.TB, path string) golden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(data), "\n----\n")
	if !ok {
		t.Fatalf("%s: no ---- line", path)
	}
	g := golden{path: path}
	for _, l := range strings.Split(head, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			g.passes = append(g.passes, l)
		}
	}
	g.lines = strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
	return g
}

// write replaces the part after "----" with lines.
func (g golden) write(t *testing.T, lines []string) {
	t.Helper()
	data, err := os.ReadFile(g.path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(data), "\n----\n")
	out := head + "\n----\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(g.path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

func goldenFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata/%s (%v)", dir, err)
	}
	return files
}

// matchLine is one "REQUEST-TARGET -> RESULT" line of a match golden. A
// target starting with a double quote is a Go string literal, for bytes
// that cannot be written plainly.
type matchLine struct {
	target, want string
}

func parseMatchLine(t testing.TB, l string) (matchLine, bool) {
	if l == "" || strings.HasPrefix(l, "#") {
		return matchLine{}, false
	}
	i := strings.LastIndex(l, " -> ")
	if i < 0 {
		t.Fatalf("golden line %q: want TARGET -> RESULT", l)
	}
	target := l[:i]
	if strings.HasPrefix(target, `"`) {
		s, err := strconv.Unquote(target)
		if err != nil {
			t.Fatalf("golden line %q: %v", l, err)
		}
		target = s
	}
	return matchLine{target: target, want: l[i+4:]}, true
}

// result is what a match golden records: the backend URL, or the status.
func result(m Match, err error) string {
	if err != nil {
		var re *RequestError
		if !errors.As(err, &re) {
			return "error " + err.Error()
		}
		return strconv.Itoa(re.Status)
	}
	return m.URL()
}

func mustTable(t testing.TB, g golden) *Table {
	t.Helper()
	tb, err := FromFlags(g.passes)
	if err != nil {
		t.Fatalf("%s:\n%v", g.path, err)
	}
	return tb
}

// TestMatchGolden checks testdata/match/*.txt: each request target maps to
// the backend URL or status on its right.
func TestMatchGolden(t *testing.T) {
	for _, path := range goldenFiles(t, "match") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			g := readGolden(t, path)
			tb := mustTable(t, g)
			out := make([]string, len(g.lines))
			for i, l := range g.lines {
				out[i] = l
				ml, ok := parseMatchLine(t, l)
				if !ok {
					continue
				}
				got := result(tb.match(ml.target, nil))
				out[i] = l[:strings.LastIndex(l, " -> ")] + " -> " + got
				if got != ml.want && !*update {
					t.Errorf("Match(%q) = %s; want %s", ml.target, got, ml.want)
				}
			}
			if *update {
				g.write(t, out)
			}
		})
	}
}

// TestParseGolden checks testdata/errors/*.txt, whose --pass values must
// fail (FromFlags, then Table.Validate) with exactly the error text recorded, and testdata/table/*.txt,
// whose values must parse into the Table dump recorded.
func TestParseGolden(t *testing.T) {
	for _, dir := range []string{"errors", "table"} {
		for _, path := range goldenFiles(t, dir) {
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				g := readGolden(t, path)
				tb, err := FromFlags(g.passes)
				if err == nil {
					// What a command line alone must hold.
					err = tb.Validate()
				}
				var got string
				switch {
				case dir == "errors" && err == nil:
					t.Fatalf("FromFlags succeeded; want errors:\n%s", tb)
				case dir == "table" && err != nil:
					t.Fatalf("FromFlags: %v", err)
				case err != nil:
					got = err.Error()
				default:
					got = strings.TrimSuffix(tb.String(), "\n")
				}
				if *update {
					g.write(t, strings.Split(got, "\n"))
					return
				}
				if want := strings.Join(g.lines, "\n"); got != want {
					t.Errorf("FromFlags(%s) =\n%s\nwant\n%s", filepath.Base(path), got, want)
				}
			})
		}
	}
}
