package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A whole Apache installation loads: Include and IncludeOptional (with
// wildcards, relative to ServerRoot), Define and ${NAME}, <IfDefine> and
// <IfVersion> are read as Apache reads them, and <If> is accepted where it
// only guards directives wsgate skips.

// apacheVersion is the Apache httpd whose behaviour wsgate reproduces, for
// <IfVersion>.
var apacheVersion = [3]int{2, 4, 71}

// includeDepth bounds nested Includes, as Apache's AP_MAX_INCLUDE_DEPTH.
const includeDepth = 128

// include reads Include and IncludeOptional: every file the argument names,
// a directory's files and a wildcard's matches in name order, each parsed
// in place, with its own positions. A file may not leave a section open.
func (p *parser) include(d directive, optional bool) {
	a, ok := p.one(d, "file, directory or wildcard")
	if !ok {
		return
	}
	if !p.opts.files {
		p.errorf(d.pos, "%s: rules given as text cannot include files; give a file (--config FILE)", d.name)
		return
	}
	if p.depth >= includeDepth {
		p.errorf(d.pos, "%s: more than %d nested includes (a file that includes itself?)", d.name, includeDepth)
		return
	}
	path := a.text
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.serverRoot, path)
	}
	var files []string
	if strings.ContainsAny(path, "*?[") {
		matches, err := filepath.Glob(path)
		if err != nil {
			p.errorf(a.pos, "%s %s: %v", d.name, a.text, err)
			return
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				files = append(files, m)
			}
		}
		if len(files) == 0 && !optional {
			p.errorf(a.pos, "%s %s: no file matches the wildcard (IncludeOptional allows that)", d.name, a.text)
			return
		}
	} else {
		fi, err := os.Stat(path)
		switch {
		case err != nil && optional:
			return
		case err != nil:
			p.errorf(a.pos, "%s %s: %v", d.name, a.text, err)
			return
		case fi.IsDir():
			filepath.WalkDir(path, func(f string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					files = append(files, f)
				}
				return nil
			})
		default:
			files = []string{path}
		}
	}
	slices.Sort(files)
	p.included = true
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			p.errorf(a.pos, "%s %s: %v", d.name, a.text, err)
			continue
		}
		p.parseIncluded(f, string(src))
	}
}

// parseIncluded parses an included file in place.
func (p *parser) parseIncluded(name, src string) {
	saved, open := p.name, len(p.stack)
	p.name = name
	p.depth++
	p.parse(src)
	for len(p.stack) > open {
		s := p.stack[len(p.stack)-1]
		p.errorf(s.pos, "<%s> was not closed in its file", s.name)
		p.stack = p.stack[:len(p.stack)-1]
	}
	p.depth--
	p.name = saved
}

// define reads Define NAME [VALUE] and UnDefine NAME.
func (p *parser) define(d directive, undefine bool) {
	if len(d.args) == 0 || len(d.args) > 2 || undefine && len(d.args) != 1 {
		p.errorf(d.pos, "%s: want NAME%s", d.name, map[bool]string{false: " [VALUE]", true: ""}[undefine])
		return
	}
	name := d.args[0].text
	if strings.Contains(name, ":") {
		p.errorf(d.args[0].pos, "%s %s: a variable name cannot contain ':' (as in Apache)", d.name, name)
		return
	}
	if undefine {
		delete(p.defines, name)
		return
	}
	p.defines[name] = ""
	if len(d.args) == 2 {
		p.defines[name] = d.args[1].text
	}
}

var varRef = regexp.MustCompile(`\$\{([^}]+)\}`)

// expand replaces ${NAME} with a Define's value, else the environment's
// (Options.Getenv), as Apache does when it reads a line; an undefined
// variable stays as written, with a warning when warn says the line
// matters (Apache's AH00111).
func (p *parser) expand(text string, segs []segment, warn bool) string {
	if !strings.Contains(text, "${") {
		return text
	}
	return varRef.ReplaceAllStringFunc(text, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if v, ok := p.defines[name]; ok {
			return v
		}
		if p.opts.Getenv != nil {
			if v := p.opts.Getenv(name); v != "" {
				return v
			}
		}
		if warn && !p.undefinedSeen[name] {
			p.undefinedSeen[name] = true
			p.warnf(p.at(segs, strings.Index(text, ref)), "${%s} is not defined (Define or the environment); left as written, as Apache leaves it", name)
		}
		return ref
	})
}

// ifDefine evaluates <IfDefine [!]NAME>: a Define, or a --define.
func (p *parser) ifDefine(args []arg, pos Pos) bool {
	if len(args) != 1 {
		p.errorf(pos, "<IfDefine> wants one NAME or !NAME")
		return false
	}
	name, neg := strings.CutPrefix(args[0].text, "!")
	_, ok := p.defines[name]
	return ok != neg
}

// ifVersion evaluates <IfVersion [[!]operator] version> against the
// Apache httpd wsgate reproduces (apacheVersion), as mod_version does.
func (p *parser) ifVersion(args []arg, pos Pos) bool {
	op, want := "=", ""
	switch len(args) {
	case 1:
		want = args[0].text
	case 2:
		op, want = args[0].text, args[1].text
	default:
		p.errorf(pos, "<IfVersion> wants [[!]operator] version")
		return false
	}
	op, neg := strings.CutPrefix(op, "!")
	have := fmt.Sprintf("%d.%d.%d", apacheVersion[0], apacheVersion[1], apacheVersion[2])
	var ok bool
	switch {
	case op == "~" || strings.HasPrefix(want, "/") && strings.HasSuffix(want, "/") && len(want) > 1:
		re, err := regexp.Compile(strings.Trim(want, "/"))
		if err != nil {
			p.errorf(pos, "<IfVersion %s>: %v", want, err)
			return false
		}
		ok = re.MatchString(have)
	default:
		c, good := compareVersion(want)
		if !good {
			p.errorf(pos, "<IfVersion %s>: want a version such as 2.4 or 2.4.71", want)
			return false
		}
		switch op {
		case "=", "==":
			ok = c == 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		default:
			p.errorf(pos, "<IfVersion>: unknown operator %q (=, ==, >, >=, <, <=, ~)", op)
			return false
		}
	}
	return ok != neg
}

// compareVersion compares apacheVersion with v, in which missing parts
// match anything (mod_version: "2.4" equals 2.4.71).
func compareVersion(v string) (int, bool) {
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return 0, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, false
		}
		switch {
		case apacheVersion[i] > n:
			return 1, true
		case apacheVersion[i] < n:
			return -1, true
		}
	}
	return 0, true
}

// inIf reports whether the line being read is inside <If>, <ElseIf> or
// <Else>, whose expressions wsgate does not evaluate.
func (p *parser) inIf() bool {
	for _, s := range p.stack {
		if s.kind == sectIf {
			return true
		}
	}
	return false
}

// builtinModules are compiled into Debian's apache2 (apache2 -l).
var builtinModules = []string{"core.c", "mod_so.c", "mod_watchdog.c", "http_core.c", "mod_log_config.c",
	"mod_logio.c", "mod_version.c", "mod_unixd.c", "so_module", "watchdog_module", "log_config_module",
	"logio_module", "version_module", "unixd_module", "core_module", "http_module"}

// loaded records LoadModule ID FILE: the module answers <IfModule ID> and
// <IfModule mod_NAME.c> (its source file, from mod_NAME.so).
func (p *parser) loaded(id, file string) {
	if p.modules == nil {
		p.modules = map[string]bool{}
		for _, m := range builtinModules {
			p.modules[m] = true
		}
	}
	p.modules[id] = true
	p.modules[strings.TrimSuffix(filepath.Base(file), ".so")+".c"] = true
}

// ifModule evaluates <IfModule [!]MODULE>. A snippet is read as if every
// module it names were loaded: it was pasted from a server that had them.
// A whole installation (one that includes other files, as Debian's
// apache2.conf does) lists its modules in its LoadModule lines, and
// <IfModule> follows them as Apache does: ports.conf's
// <IfModule mod_gnutls.c> Listen 443 is then skipped.
func (p *parser) ifModule(args []arg, pos Pos) bool {
	if len(args) != 1 {
		p.errorf(pos, "<IfModule> wants one [!]MODULE")
		return false
	}
	if !p.included || p.modules == nil {
		return true
	}
	name, neg := strings.CutPrefix(args[0].text, "!")
	return p.modules[name] != neg
}
