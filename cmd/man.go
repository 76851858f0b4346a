package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

// manCommand prints the manual page, made from the commands and flags
// themselves so that it cannot drift from --help. Packages install it
// (wsgate man > wsgate.1); "wsgate man | man -l -" reads it at once.
func manCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:         "man",
		Usage:        "print the manual page (roff): wsgate man | man -l -",
		OnUsageError: onUsageError,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			writeMan(e.stdout, cmd.Root(), e.info)
			return nil
		},
	}
}

// writeMan writes root's manual page in the man(7) macros.
func writeMan(w io.Writer, root *cli.Command, info Info) {
	date := info.Date
	if date == "unknown" {
		date = ""
	}
	fmt.Fprintf(w, ".TH WSGATE 1 %q %q \"User Commands\"\n", date, "wsgate "+info.Version)
	fmt.Fprintf(w, ".SH NAME\nwsgate \\- %s\n", roff(root.Usage))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B wsgate\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n")
	fmt.Fprintf(w, ".SH DESCRIPTION\n")
	manText(w, root.Description)
	fmt.Fprintf(w, ".SH COMMANDS\n")
	for _, c := range root.VisibleCommands() {
		if c.Name == "help" || c.Name == "man" {
			continue
		}
		synopsis := "wsgate " + c.Name
		if len(c.VisibleFlags()) > 0 {
			synopsis += " [options]"
		}
		if c.ArgsUsage != "" {
			synopsis += " " + c.ArgsUsage
		}
		fmt.Fprintf(w, ".SS %q\n%s\n", roff(synopsis), roff(c.Usage))
		if c.Description != "" {
			fmt.Fprintf(w, ".PP\n")
			manText(w, c.Description)
		}
		for _, f := range c.VisibleFlags() {
			head, usage, _ := strings.Cut(flagHelp(f), "\n")
			fmt.Fprintf(w, ".TP\n.B %s\n%s\n", roff(head), roff(strings.Join(strings.Fields(usage), " ")))
		}
	}
	fmt.Fprintf(w, ".SH \"EXIT STATUS\"\n.TP\n.B 0\nsuccess, including a stop by a signal\n"+
		".TP\n.B 1\na runtime failure: a port in use, a backend that failed, a dial that failed\n"+
		".TP\n.B 2\nbad flags or rules: nothing was started\n")
	fmt.Fprintf(w, ".SH \"SEE ALSO\"\n.BR apache2 (8),\n.BR httpd (8).\n"+
		"The documentation in docs/ of the source, https://github.com/wsgate/wsgate\n")
}

// manText writes a description: prose paragraphs filled by man, example
// lines (those that start with a space) kept as they are.
func manText(w io.Writer, desc string) {
	for i, p := range strings.Split(desc, "\n\n") {
		if i > 0 {
			fmt.Fprintf(w, ".PP\n")
		}
		if strings.HasPrefix(p, " ") {
			fmt.Fprintf(w, ".RS\n.nf\n%s\n.fi\n.RE\n", roff(strings.TrimRight(p, "\n")))
			continue
		}
		fmt.Fprintf(w, "%s\n", roff(strings.Join(strings.Fields(p), " ")))
	}
}

// roff escapes text for roff: backslashes, and lines that would start
// with a control character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
