package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/internal/syncbuf"
)

// TestServeLiveView runs serve as on a terminal (its frames are written
// to a buffer): the rules' warnings go to standard error before the view
// starts, and the view counts them and shows --demo's connect lines.
func TestServeLiveView(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, terminal: true, info: Info{Version: "1.2.3"},
		getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}
	code := run(ctx, e, []string{"wsgate", "serve", "--listen", "127.0.0.1:0", "--demo",
		"--pass", "/x/ ws://127.0.0.1:1/", "--pass", "/x/y ws://127.0.0.1:1/", "--exit-when-idle", "200ms"})
	if code != 0 {
		t.Fatalf("serve = exit %d; stderr:\n%s", code, errb.String())
	}
	if want := `--pass 2:1: warning: ProxyPass "/x/y": can never match`; !strings.HasPrefix(errb.String(), want) {
		t.Errorf("stderr does not start with the warning %q:\n%s", want, errb.String())
	}
	stdout := out.String()
	_, view, ok := strings.Cut(stdout, "\x1b[?1049h") // the alternate screen
	if !ok {
		t.Fatalf("no live view on standard output:\n%q", stdout)
	}
	for _, want := range []string{"2 warnings (w)", "  connect:  wsgate dial ws://127.0.0.1:", "  or open http://127.0.0.1:"} {
		if !strings.Contains(view, want) {
			t.Errorf("the live view does not show %q:\n%q", want, view)
		}
	}
}
