package cmd

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
	"github.com/wsgate/wsgate/tunnel"
)

func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate rules, print the routing table (apachectl configtest)",
		Description: "Parses the rules file and flags exactly as serve would, prints every warning (dead rules,\n" +
			"slashes that glue or double path segments, parameters Apache would drop through worker\n" +
			"sharing, skipped directives) and then the routing table in order, each rule with its origin.\n" +
			"Exit status: 0 when the rules load, 2 when they do not (or, with --strict, on a warning),\n" +
			"1 when --dial finds a backend that does not accept connections.",
		OnUsageError: onUsageError,
		Flags: slices.Concat(ruleFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "dial", Usage: "also connect to every backend (with TLS for wss:// and https://, verified as serve verifies it)"},
		}, backendTLSFlags()),
		ArgsUsage: "[FILE]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			// apachectl -t users type the file name alone: it is --config.
			switch {
			case cmd.NArg() == 1 && !cmd.IsSet("config"):
				if err := cmd.Set("config", cmd.Args().First()); err != nil {
					return err
				}
			case cmd.NArg() > 0:
				return usagef("unexpected argument %q (the rules file is --config FILE, or FILE alone)", cmd.Args().First())
			}
			table, err := loadTable(cmd, e.stdout)
			if err != nil {
				return err
			}
			warnings := append(table.Check(), tlsFileWarnings(table)...)
			if cmd.Bool("strict") && len(warnings) > 0 {
				return rules.ErrorList(warnings)
			}
			printWarnings(e.stdout, warnings)
			fmt.Fprint(e.stdout, table.String())
			if cmd.Bool("dial") {
				cfg, err := backendTLSConfig(cmd, table.BackendTLS)
				if err != nil {
					return err
				}
				if err := dialBackends(ctx, e, table, cfg); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "wsgate: %d rules, %d warnings: OK\n", countRules(table), len(table.Warnings)+len(warnings))
			return nil
		},
	}
}

// tlsFileWarnings warns about SSLCertificateFile and SSLCertificateKeyFile
// files that cannot be read. It is a warning, not an error: a pasted
// configuration names the certificates of the machine it came from, and
// the flags can replace them; serve stops with an error at the SSLEngine
// line when it needs them.
func tlsFileWarnings(table *rules.Table) []*rules.Error {
	var warns []*rules.Error
	var seen []string
	for _, s := range table.Servers() {
		f := s.TLS
		for _, file := range []struct {
			directive, path string
			pos             rules.Pos
		}{{"SSLCertificateFile", f.CertFile, f.CertPos}, {"SSLCertificateKeyFile", f.KeyFile, f.KeyPos}} {
			if file.path == "" || slices.Contains(seen, file.path) {
				continue
			}
			seen = append(seen, file.path)
			if _, err := os.Stat(file.path); err != nil {
				warns = append(warns, &rules.Error{Pos: cmp.Or(file.pos, f.Pos), Msg: fmt.Sprintf(
					"%s %s: %v: serve would stop here; give --tls-cert and --tls-key, or --tls-self-signed, to serve without it",
					file.directive, file.path, errors.Unwrap(err))})
			}
		}
	}
	return warns
}

// allRules are the rules of every server and location, each once.
func allRules(table *rules.Table) []*rules.Rule {
	var all []*rules.Rule
	add := func(r *rules.Rule) {
		if r != nil && !slices.Contains(all, r) {
			all = append(all, r)
		}
	}
	for _, s := range table.Servers() {
		for _, r := range s.Rules {
			add(r)
		}
		for _, l := range s.Locations {
			add(l.Rule)
			add(l.Redirect)
			for _, r := range l.Rewrite {
				add(r)
			}
		}
	}
	return all
}

// countRules is how many rules the table holds, in every server and
// location.
func countRules(table *rules.Table) int { return len(allRules(table)) }

// dialBackends tries a TCP connection to every distinct backend address.
func dialBackends(ctx context.Context, e *env, table *rules.Table, tlsCfg *tls.Config) error {
	type backend struct {
		addr string
		tls  bool
	}
	var backends []backend
	for _, r := range allRules(table) {
		if r.Target == nil || r.Kind == rules.Redirection || strings.ContainsAny(r.Target.Host, "$%") {
			continue // exclusions, redirects, and hosts only known per request
		}
		b := backend{backendAddr(r.Target), r.Target.Scheme == "wss" || r.Target.Scheme == "https"}
		if !slices.Contains(backends, b) {
			backends = append(backends, b)
		}
	}
	failed := 0
	for _, b := range backends {
		nd := &net.Dialer{Timeout: 3 * time.Second}
		var c net.Conn
		var err error
		what := "dial " + b.addr
		if b.tls {
			what = "dial " + b.addr + " (TLS)"
			c, err = (&tls.Dialer{NetDialer: nd, Config: tlsCfg}).DialContext(ctx, "tcp", b.addr)
		} else {
			c, err = nd.DialContext(ctx, "tcp", b.addr)
		}
		if err != nil {
			failed++
			fmt.Fprintf(e.stdout, "%s: %v\n", what, err)
			if h := tunnel.TLSHint(err); h != "" {
				fmt.Fprintf(e.stdout, "  %s\n", h)
			}
			continue
		}
		c.Close()
		fmt.Fprintf(e.stdout, "%s: ok\n", what)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d backends do not accept connections", failed, len(backends))
	}
	return nil
}

func backendAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "wss" || u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
