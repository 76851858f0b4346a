package cmd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"
)

// compactHelp makes each flag's help line "--name, -n ARG<tab>usage
// (default: x)", so that a command's help fits an 80-column terminal: the
// library's own line names the argument after every alias and writes a
// repeatable flag twice ("--header string, -H string [ --header string,
// -H string ]"), which pushes the usage column past the middle of the
// screen. ARG is the usage's `quoted` word, as for the library's own.
func compactHelp(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		if s, ok := f.(cli.StringerSetter); ok {
			s.SetStringer(compactFlag)
		}
	}
	return flags
}

func compactFlag(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return strings.Join(f.Names(), ", ")
	}
	names := make([]string, 0, len(f.Names()))
	for _, n := range f.Names() {
		if len(n) == 1 {
			names = append(names, "-"+n)
		} else {
			names = append(names, "--"+n)
		}
	}
	usage, arg := df.GetUsage(), ""
	if i := strings.IndexByte(usage, '`'); i >= 0 {
		if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
			arg = usage[i+1 : i+1+j]
			usage = usage[:i] + arg + usage[i+2+j:]
		}
	}
	if arg == "" && df.TakesValue() {
		arg = strings.ToUpper(df.TypeName())
	}
	left := strings.Join(names, ", ")
	if arg != "" {
		left += " " + arg
	}
	if df.IsDefaultVisible() {
		if d := df.GetDefaultText(); d != "" {
			usage += fmt.Sprintf(" (default: %s)", d)
		} else if d := df.GetValue(); df.TakesValue() && d != "" {
			if u, err := strconv.Unquote(d); err == nil {
				d = u // a string's default is shown quoted
			}
			usage += fmt.Sprintf(" (default: %s)", d)
		}
	}
	return left + "\t" + usage
}
