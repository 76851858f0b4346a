package rules

import "strings"

// This file holds the lexer: text in, raw arguments with positions out.
// It knows nothing about what a directive means; parsePass and friends
// validate. parse.go reads whole files (# comments, "\" continuation
// lines, sections) on top of it, one logical line at a time.

// arg is one argument of a directive as Apache's ap_getword_conf returns
// it: quotes removed, escapes resolved. Pos is where its first byte
// (the opening quote, if quoted) was.
type arg struct {
	text string
	pos  Pos
}

// directive is one raw configuration directive: its name and arguments,
// before any validation. It is a different type from Rule on purpose: a
// directive may be anything the user typed, a Rule is always valid.
type directive struct {
	pos  Pos // of the name, or of the value for a flag
	name string
	args []arg
	// end is just past the last byte of the line: where an argument that
	// is missing is reported.
	end Pos
}

// splitArgs splits line into arguments the way Apache's ap_getword_conf
// does, so that a line means the same to wsgate as to httpd:
//
//   - arguments are separated by runs of white space (apr_isspace);
//   - an argument that starts with " or ' runs to the matching quote,
//     which is removed; inside it, a backslash escapes that quote or a
//     backslash, and any other backslash is literal;
//   - outside quotes, "\\" stands for one backslash;
//   - a quote in the middle of an argument is an ordinary byte, and an
//     argument may follow a closing quote without a space ("a"b is two
//     arguments), as in Apache.
//
// Apache silently runs an unterminated quote to the end of the line; that
// is almost always a typo, so here it is an error at the opening quote.
//
// start is the position of line[0]; each argument's column is start's plus
// its byte offset (Col 0 is taken as 1).
func splitArgs(start Pos, line string) ([]arg, Pos, *Error) {
	if start.Col == 0 {
		start.Col = 1
	}
	at := func(off int) Pos {
		p := start
		p.Col += off
		return p
	}
	var args []arg
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, at(len(line)), nil
		}
		begin := i
		if q := line[i]; q == '"' || q == '\'' {
			i++
			for i < len(line) && line[i] != q {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == q || line[i+1] == '\\') {
					i++
				}
				i++
			}
			if i == len(line) {
				return nil, at(begin), &Error{Pos: at(begin), Msg: "unterminated quoted argument: missing closing " + string(q)}
			}
			args = append(args, arg{text: unescapeConf(line[begin+1:i], q), pos: at(begin)})
			i++ // the closing quote
			continue
		}
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		args = append(args, arg{text: unescapeConf(line[begin:i], 0), pos: at(begin)})
	}
}

// unescapeConf is Apache's substring_conf: a backslash before a backslash
// or before the quote character (0 outside quotes) is dropped.
func unescapeConf(s string, quote byte) string {
	j := 0
	for j < len(s) && s[j] != '\\' {
		j++
	}
	if j == len(s) {
		return s
	}
	b := []byte(s[:j])
	for i := j; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || (quote != 0 && s[i+1] == quote)) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// isSpace is apr_isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// splitRewriteArgs splits the arguments of RewriteCond and RewriteRule
// the way mod_rewrite's parseargline does, which is not ap_getword_conf:
//
//   - an argument that starts with " or ' runs to the next such quote,
//     with no escapes at all (so it cannot contain that quote);
//   - an unquoted argument runs to the next white space, except that a
//     backslash followed by white space is kept, both bytes, inside it
//     ("a\ b" is one argument, backslash included);
//   - no other backslash is special.
//
// Apache reads three arguments and ignores anything after them; here the
// rest is returned too, so that it can be reported. An unterminated quote
// is an error, as in splitArgs.
func splitRewriteArgs(start Pos, line string) ([]arg, Pos, *Error) {
	if start.Col == 0 {
		start.Col = 1
	}
	at := func(off int) Pos {
		p := start
		p.Col += off
		return p
	}
	var args []arg
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, at(len(line)), nil
		}
		begin := i
		var quote byte
		if q := line[i]; q == '"' || q == '\'' {
			quote = q
			i++
		}
		for i < len(line) {
			c := line[i]
			if quote == 0 && isSpace(c) || quote != 0 && c == quote {
				break
			}
			if c == '\\' && i+1 < len(line) && isSpace(line[i+1]) {
				i++
			}
			i++
		}
		if quote != 0 {
			if i == len(line) {
				return nil, at(begin), &Error{Pos: at(begin), Msg: "unterminated quoted argument: missing closing " + string(quote)}
			}
			args = append(args, arg{text: line[begin+1 : i], pos: at(begin)})
			i++
			continue
		}
		args = append(args, arg{text: line[begin:i], pos: at(begin)})
	}
}

// quoteRewriteArg writes s so that splitRewriteArgs reads it back: bare
// when it can be, else in double quotes, else in single quotes. An
// argument that splitRewriteArgs produced always fits one of the three.
func quoteRewriteArg(s string) string {
	bare := s != "" && s[0] != '"' && s[0] != '\''
	for i := 0; bare && i < len(s); i++ {
		if isSpace(s[i]) && (i == 0 || s[i-1] != '\\') {
			bare = false
		}
	}
	// A trailing backslash would escape the separator that follows.
	if bare && !strings.HasSuffix(s, `\`) {
		return s
	}
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}
