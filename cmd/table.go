package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/wsgate/wsgate/rules"
)

// ruleFlags are the flags that make a routing table. serve, check and route
// share them, so that check and route test exactly what serve would run.
func ruleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, TakesFile: true,
			Usage: "rules `FILE` in Apache's directive syntax (ProxyPass, ProxyPassMatch, RewriteRule [P], Listen, ...)"},
		&cli.StringSliceFlag{Name: "pass", Aliases: []string{"p"},
			Usage: "a mapping, as ProxyPass's arguments: `'PATH URL'` [key=value ...] or 'PATH !' (repeatable; before the file's rules)"},
		&cli.StringSliceFlag{Name: "pass-match",
			Usage: "a mapping, as ProxyPassMatch's arguments: `'REGEX URL'` [key=value ...] (repeatable; after --pass, before the file's rules)"},
		&cli.BoolFlag{Name: "strict", Usage: "treat warnings about the rules file (skipped directives) as errors"},
		&cli.StringSliceFlag{Name: "define", Aliases: []string{"D"},
			Usage: "a `NAME` <IfDefine> finds defined, as httpd -D NAME (repeatable)"},
		&cli.DurationFlag{Name: "timeout",
			Usage: "Apache's Timeout: with timeout= or ProxyTimeout it sets the tunnels' idle timeout (max of both); unset: no idle timeout"},
		originFlag(),
	}
}

// loadTable builds the routing table from the flags and the rules file:
// --pass rules first, then --pass-match, then the file's, as if the flags
// were lines at the top of the file. Warnings go to w.
func loadTable(cmd *cli.Command, w io.Writer) (*rules.Table, error) {
	var errs rules.ErrorList
	table := &rules.Table{}
	if path := cmd.String("config"); path != "" {
		t, err := rules.LoadFile(path, rules.Options{Strict: cmd.Bool("strict"),
			Defines: cmd.StringSlice("define"), Getenv: os.Getenv})
		var list rules.ErrorList
		var one *rules.Error
		switch {
		case err == nil:
		case errors.As(err, &list), errors.As(err, &one):
			return nil, err
		default:
			return nil, usagef("--config: %w", err) // unreadable: still the user's input
		}
		table = t
	}
	flagTable, err := rules.FromFlags(cmd.StringSlice("pass"))
	if err != nil {
		errs = appendErrors(errs, err)
	}
	var flagRules []*rules.Rule
	var flagBalancers []*rules.Balancer
	if flagTable != nil {
		flagRules, flagBalancers = flagTable.Rules, flagTable.Balancers
	}
	for i, v := range cmd.StringSlice("pass-match") {
		r, err := rules.ParsePassMatch(rules.Pos{File: "--pass-match", Line: i + 1}, v)
		if err != nil {
			errs = appendErrors(errs, err)
			continue
		}
		flagRules = append(flagRules, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// The flags are lines at the top of the file: every virtual host
	// inherits them, and balancers are global.
	table.Prepend(flagRules, flagBalancers)
	// A --pass may name a balancer of the file: names are checked once
	// everything is together.
	if err := table.Validate(); err != nil {
		return nil, err
	}
	if err := addOrigins(cmd, table); err != nil {
		return nil, err
	}
	if d := cmd.Duration("timeout"); d > 0 {
		table.SetTimeout(d)
	}
	printWarnings(w, table.Warnings)
	return table, nil
}

// appendErrors flattens rules errors into one list.
func appendErrors(list rules.ErrorList, err error) rules.ErrorList {
	switch err := err.(type) {
	case rules.ErrorList:
		return append(list, err...)
	case *rules.Error:
		return append(list, err)
	}
	return append(list, &rules.Error{Msg: err.Error()})
}

func printWarnings(w io.Writer, warnings []*rules.Error) {
	for _, l := range warningLines(warnings) {
		fmt.Fprintln(w, l)
	}
}

// warningLines are warnings as check prints them, one a line.
func warningLines(warnings []*rules.Error) []string {
	lines := make([]string, len(warnings))
	for i, wa := range warnings {
		lines[i] = fmt.Sprintf("%s: warning: %s", wa.Pos, wa.Msg)
	}
	return lines
}
