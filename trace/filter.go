package trace

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wsgate/wsgate/trace/decode"
	"github.com/wsgate/wsgate/tunnel"
)

// Filter chooses the messages a trace keeps (--trace-filter). It is a list
// of expressions, any of which may match (OR); an expression is terms
// separated by spaces, all of which must match (AND):
//
//	dir=down event=chat.* size>1k
//
// A term is a field, an operator and a value. The built-in fields are
//
//	route=GLOB      the tunnel's rule, "wsgate.conf:3 /chat/" or its path "/chat/"
//	dir=up|down     → client to backend, ← backend to client
//	op=NAME         text, binary, ping, pong or close (opcode= too); http: plain HTTP exchanges
//	size>N          the payload's length; also <, >=, <= and =; k/K = 1024, M = 1048576
//	text=GLOB       the payload of a text message, as far as it was kept
//	text~REGEX
//
// Any other field is a decoded one (event, method, topic...), matched with
// =GLOB or ~REGEX against the fields the caller hands to Match; a field
// the message does not have matches nothing. op=VALUE is the opcode when
// VALUE names one, else the decoded field "op". A GLOB's * is any run of
// characters and ? any one; a REGEX is Go's (RE2), unanchored. A value may
// be written as a Go double-quoted string, to hold spaces.
//
// MatchHTTP applies the same expressions to plain HTTP exchanges; its
// doc says how.
//
// The zero Filter, and a nil one, keep every message and exchange.
type Filter struct {
	exprs [][]term
}

// term is one field test.
type term struct {
	field string // "route", "dir", "opcode", "size", "text", or a decoded field
	op    string // "=", "~", ">", "<", ">=", "<="
	re    *regexp.Regexp
	dir   tunnel.Direction
	code  tunnel.Opcode
	n     int64
}

// FilterError is a --trace-filter expression that does not parse: Expr
// is its number (from 1), Col the column of the fault (from 1, in runes).
type FilterError struct {
	Expr, Col int
	Msg       string
}

func (e *FilterError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Expr, e.Col, e.Msg) }

// opcodes are the names op= takes.
var opcodes = map[string]tunnel.Opcode{
	"text": tunnel.OpText, "binary": tunnel.OpBinary, "ping": tunnel.OpPing,
	"pong": tunnel.OpPong, "close": tunnel.OpClose, "http": opHTTP,
}

// opHTTP is op=http: no WebSocket opcode (they are 4 bits), so that it
// matches no message, and every part of a plain HTTP exchange.
const opHTTP tunnel.Opcode = 0xff

// ParseFilter parses the expressions of a Filter. No expression at all is
// a Filter that keeps everything; an empty or blank expression is an error.
func ParseFilter(exprs []string) (*Filter, error) {
	f := &Filter{}
	for i, s := range exprs {
		terms, err := parseExpr(s)
		if err != nil {
			err.Expr = i + 1
			return nil, err
		}
		f.exprs = append(f.exprs, terms)
	}
	return f, nil
}

// parseExpr parses one expression; the error's Expr is left for the caller.
func parseExpr(s string) ([]term, *FilterError) {
	var terms []term
	i := 0
	fail := func(at int, format string, a ...any) ([]term, *FilterError) {
		return nil, &FilterError{Col: utf8.RuneCountInString(s[:at]) + 1, Msg: fmt.Sprintf(format, a...)}
	}
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isFieldByte(s[i]) {
			i++
		}
		if i == start {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fail(i, "want a field name, as in dir=up; got %q", r)
		}
		field := s[start:i]
		opAt := i
		for i < len(s) && strings.IndexByte("=~<>!", s[i]) >= 0 {
			i++
		}
		op := s[opAt:i]
		switch op {
		case "=", "~", ">", "<", ">=", "<=":
		case "":
			return fail(opAt, "%s: want an operator (=, ~, >, <, >=, <=) after the field", field)
		default:
			return fail(opAt, "unknown operator %q (want =, ~, >, <, >= or <=)", op)
		}
		valAt := i
		var val string
		if i < len(s) && s[i] == '"' {
			q, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return fail(i, "unterminated or invalid quoted value")
			}
			val, _ = strconv.Unquote(q)
			i += len(q)
			if i < len(s) && s[i] != ' ' && s[i] != '\t' {
				return fail(i, "want a space after the quoted value")
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			val = s[valAt:i]
		}
		t, msg := newTerm(field, op, val)
		if msg != "" {
			at := valAt
			if strings.HasPrefix(msg, "@op ") {
				at, msg = opAt, msg[len("@op "):]
			}
			return fail(at, "%s", msg)
		}
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return fail(0, "empty expression (want terms such as dir=up op=text)")
	}
	return terms, nil
}

// isFieldByte reports whether c may be part of a field name.
func isFieldByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// newTerm checks and compiles one term. A message starting "@op " is about
// the operator, any other about the value.
func newTerm(field, op, val string) (term, string) {
	t := term{field: field, op: op}
	cmp := op != "=" && op != "~"
	switch field {
	case "dir":
		if op != "=" {
			return t, "@op dir takes = only (dir=up or dir=down)"
		}
		switch val {
		case "up":
			t.dir = tunnel.Up
		case "down":
			t.dir = tunnel.Down
		default:
			return t, fmt.Sprintf("dir=%q: want up or down", val)
		}
		return t, ""
	case "op", "opcode":
		code, ok := opcodes[val]
		if ok && op == "=" {
			t.field, t.code = "opcode", code
			return t, ""
		}
		if field == "opcode" {
			if op != "=" {
				return t, "@op opcode takes = only"
			}
			return t, fmt.Sprintf("opcode=%q: want text, binary, ping, pong, close or http", val)
		}
		// op=VALUE that names no opcode is the decoded field "op".
	case "size":
		if op == "~" {
			return t, "@op size takes =, >, <, >= or <= and a number"
		}
		n, ok := parseSize(val)
		if !ok {
			return t, fmt.Sprintf("size %q: want a number of bytes, as in 512, 1k or 2M", val)
		}
		t.n = n
		return t, ""
	}
	if cmp {
		return t, fmt.Sprintf("@op %s compares sizes: %s takes = or ~", op, field)
	}
	var err error
	if op == "~" {
		t.re, err = regexp.Compile(val)
	} else {
		t.re, err = regexp.Compile(globRegexp(val))
	}
	if err != nil {
		// Quoted: the pattern may hold a newline, and the message is one line.
		var se *syntax.Error
		if errors.As(err, &se) {
			return t, fmt.Sprintf("%s~%q: bad regexp: %s: %q", field, val, se.Code, se.Expr)
		}
		return t, fmt.Sprintf("%s~%q: bad regexp", field, val)
	}
	return t, ""
}

// parseSize reads N, Nk, NK or NM.
func parseSize(s string) (int64, bool) {
	mul := int64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mul, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mul, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return 0, false
	}
	return n * mul, true
}

// globRegexp is an anchored regular expression for a glob: * is any run of
// characters, ? any one, and everything else itself.
func globRegexp(g string) string {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// Match reports whether the filter keeps m, a message of a tunnel whose
// rule is route. fields are m's decoded fields (nil: none).
func (f *Filter) Match(m tunnel.Message, route string, fields map[string]string) bool {
	if f == nil || len(f.exprs) == 0 {
		return true
	}
	for _, terms := range f.exprs {
		if allMatch(terms, m, route, fields) {
			return true
		}
	}
	return false
}

func allMatch(terms []term, m tunnel.Message, route string, fields map[string]string) bool {
	for _, t := range terms {
		if !t.match(m, route, fields) {
			return false
		}
	}
	return true
}

func (t term) match(m tunnel.Message, route string, fields map[string]string) bool {
	switch t.field {
	case "dir":
		return m.Dir == t.dir
	case "opcode":
		return m.Opcode == t.code
	case "size":
		return t.size(m.Len)
	case "route":
		return t.route(route)
	case "text":
		if !isText(m) {
			return false
		}
		p, _ := payload(m)
		return t.re.Match(p)
	}
	v, ok := fields[t.field]
	return ok && t.re.MatchString(v)
}

// DecodedFields are the fields a Filter's decoded terms match for a
// message its decoder described as d: the decoder's own fields, with
// "protocol" and "type". Nil for nil: a term on a decoded field then
// matches nothing.
func DecodedFields(d *decode.Decoded) map[string]string {
	if d == nil {
		return nil
	}
	fields := map[string]string{"protocol": d.Protocol, "type": d.Type}
	maps.Copy(fields, d.Fields)
	return fields
}

// size compares n with a size term's number.
func (t term) size(n int64) bool {
	switch t.op {
	case ">":
		return n > t.n
	case "<":
		return n < t.n
	case ">=":
		return n >= t.n
	case "<=":
		return n <= t.n
	}
	return n == t.n
}

// route matches a route term against a rule's name, or its path: the
// last word ("wsgate.conf:3 /chat/", "--pass 1 /chat/").
func (t term) route(route string) bool {
	if t.re.MatchString(route) {
		return true
	}
	i := strings.LastIndexByte(route, ' ')
	return i >= 0 && t.re.MatchString(route[i+1:])
}
