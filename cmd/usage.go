package cmd

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"
)

// helpWidth is the terminal width --help is written for: every line of
// it fits, so that it reads in an 80-column terminal and in a CI log.
const helpWidth = 80

func init() {
	cli.FlagStringer = flagHelp
	// flagHelp wraps its own lines; the library's flag list would wrap
	// them again at another indent, so the templates list flags plainly.
	for _, t := range []*string{&cli.RootCommandHelpTemplate, &cli.CommandHelpTemplate, &cli.SubcommandHelpTemplate} {
		*t = strings.ReplaceAll(*t, `{{template "visibleFlagTemplate" .}}`, "{{range .VisibleFlags}}\n   {{.}}{{end}}")
		*t = strings.ReplaceAll(*t, `{{template "visiblePersistentFlagTemplate" .}}`, "{{range .VisiblePersistentFlags}}\n   {{.}}{{end}}")
	}
}

// flagHelp writes a flag as Go's flag package does, names and value on
// one line, what it does wrapped below:
//
//	--listen, -l ADDR
//	      ADDR to listen on ... (default: 127.0.0.1:8080)
//
// The value's name is the usage's `BACKTICKED` word, else its kind
// (DURATION, N, VALUE); a default is shown only when it says something
// (not 0, 0s, false or empty).
func flagHelp(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return strings.Join(f.Names(), ", ")
	}
	usage, metavar := splitMetavar(d.GetUsage())
	if metavar == "" && d.TakesValue() {
		metavar = map[string]string{"duration": "DURATION", "int": "N", "uint": "N", "float": "N", "string": "VALUE"}[d.TypeName()]
		if metavar == "" {
			metavar = "VALUE"
		}
	}
	var names []string
	for _, n := range f.Names() {
		names = append(names, dashes(n))
	}
	head := strings.Join(names, ", ")
	if metavar != "" {
		head += " " + metavar
	}
	if m, ok := f.(cli.DocGenerationMultiValueFlag); ok && m.IsMultiValueFlag() && !strings.Contains(usage, "repeatable") {
		usage += " (repeatable)"
	}
	def := d.GetDefaultText()
	if def == "" && d.TakesValue() {
		def = strings.Trim(d.GetValue(), `"`)
	}
	if d.IsDefaultVisible() && def != "" && !noDefault[def] {
		usage += fmt.Sprintf(" (default: %s)", def)
	}
	return head + "\n" + wrapText(usage, "      ", helpWidth-3)
}

// noDefault are default texts that say nothing.
var noDefault = map[string]bool{"0": true, "0s": true, "false": true, `""`: true, "[]": true, "0.0": true}

// splitMetavar takes the `NAME` of a usage string out: "write to `FILE`"
// is ("write to FILE", "FILE").
func splitMetavar(usage string) (text, metavar string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return usage, ""
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return usage, ""
	}
	metavar = usage[i+1 : i+1+j]
	return usage[:i] + metavar + usage[i+2+j:], metavar
}

// wrapText breaks s into lines of at most width columns (a word longer
// than that stands alone), each starting with indent.
func wrapText(s, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}

// inCategory puts flags under a heading of --help.
func inCategory(category string, flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.BoolFlag:
			f.Category = category
		case *cli.StringFlag:
			f.Category = category
		case *cli.StringSliceFlag:
			f.Category = category
		case *cli.IntFlag:
			f.Category = category
		case *cli.DurationFlag:
			f.Category = category
		case *cli.FloatFlag:
			f.Category = category
		default:
			panic(fmt.Sprintf("inCategory: flag %T", f))
		}
	}
	return flags
}

// rewrap fills the prose paragraphs of a command's description to the
// help's width (the template indents them by 3); lines that start with a
// space (examples, tables) are kept as written.
func rewrap(desc string) string {
	paras := strings.Split(desc, "\n\n")
	for i, p := range paras {
		if strings.HasPrefix(p, " ") {
			continue
		}
		paras[i] = wrapText(strings.ReplaceAll(p, "\n", " "), "", helpWidth-3)
	}
	return strings.Join(paras, "\n\n")
}
