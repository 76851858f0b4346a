package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path → text) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestIncludeAndConditions: Include, IncludeOptional (wildcards, relative
// to ServerRoot), Define and ${NAME}, <IfDefine>, <IfVersion> and <If>
// read as Apache reads them, with every message positioned in its own
// file.
func TestIncludeAndConditions(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"main.conf": `Define BACKEND 127.0.0.1:9001
Include conf.d/*.conf
IncludeOptional missing/*.conf
IncludeOptional missing.conf
<IfDefine !NOPE>
ProxyPass /a/ ws://${BACKEND}/a/
</IfDefine>
<IfDefine NOPE>
ProxyPass /b/ ws://${BACKEND}/b/
</IfDefine>
<IfDefine FROMFLAG>
ProxyPass /f/ ws://${BACKEND}/f/
</IfDefine>
<IfVersion >= 2.4>
ProxyPass /v/ ws://${BACKEND}/v/
</IfVersion>
<IfVersion < 2.4>
ProxyPass /old/ ws://${BACKEND}/old/
</IfVersion>
<IfVersion ~ ^2\.4\.>
ProxyPass /re/ ws://${BACKEND}/re/
</IfVersion>
<If "%{HTTPS} == 'on'">
DavLockDB /var/lock/x
</If>
`,
		"conf.d/1.conf": "ProxyPass /c/ ws://127.0.0.1:9002/c/\n",
		"conf.d/2.conf": "# a comment\nProxyPass /d/ ws://${BACKEND}/d/\n",
	})
	tb, err := LoadFile(filepath.Join(dir, "main.conf"), Options{Defines: []string{"FROMFLAG"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tb.Rules {
		got = append(got, r.Path+" "+r.Target.String()+" @"+strings.TrimPrefix(r.Pos.String(), dir+"/"))
	}
	want := []string{
		"/c/ ws://127.0.0.1:9002/c/ @conf.d/1.conf:1:1",
		"/d/ ws://127.0.0.1:9001/d/ @conf.d/2.conf:2:1",
		"/a/ ws://127.0.0.1:9001/a/ @main.conf:6:1",
		"/f/ ws://127.0.0.1:9001/f/ @main.conf:12:1",
		"/v/ ws://127.0.0.1:9001/v/ @main.conf:15:1",
		"/re/ ws://127.0.0.1:9001/re/ @main.conf:21:1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var warns []string
	for _, w := range tb.Warnings {
		warns = append(warns, strings.TrimPrefix(w.Error(), dir+"/"))
	}
	if w := strings.Join(warns, "\n"); !strings.Contains(w, "main.conf:24:1: DavLockDB: skipped") {
		t.Errorf("warnings =\n%s\nwant DavLockDB inside <If> skipped", w)
	}
}

func TestIncludeErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing file", map[string]string{"main.conf": "Include nope.conf\n"},
			"main.conf:1:9: Include nope.conf: stat "},
		{"no match", map[string]string{"main.conf": "\nInclude conf.d/*.conf\n"},
			"main.conf:2:9: Include conf.d/*.conf: no file matches the wildcard (IncludeOptional allows that)"},
		{"section left open", map[string]string{"main.conf": "Include a.conf\n", "a.conf": "\n<Location /x/>\n"},
			"a.conf:2:1: <Location> was not closed in its file"},
		{"itself", map[string]string{"main.conf": "Include main.conf\n"},
			"main.conf:1:1: Include: more than 128 nested includes (a file that includes itself?)"},
		{"a line <If> cannot guard", map[string]string{"main.conf": "<If \"-T %{HTTPS}\">\nProxyPass /x/ ws://h/\n</If>\n"},
			"main.conf:2:1: ProxyPass inside <If>: wsgate does not evaluate <If> expressions"},
		{"text cannot include", nil, "wsgate.conf:1:1: Include: rules given as text cannot include files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			dir := ""
			if tc.files == nil {
				_, err = ParseFile("wsgate.conf", []byte("Include x.conf\n"), Options{})
			} else {
				dir = writeTree(t, tc.files)
				_, err = LoadFile(filepath.Join(dir, "main.conf"), Options{})
			}
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got := strings.ReplaceAll(err.Error(), dir+"/", ""); !strings.Contains(got, tc.want) {
				t.Errorf("error =\n%s\nwant it to contain\n%s", got, tc.want)
			}
		})
	}
}
