package rules

import (
	"strings"

	"github.com/wsgate/wsgate/internal/spell"
)

// Error is a configuration error, located like a compiler's:
//
//	--pass 2:18: ProxyPass: unknown parameter "upgarde" (did you mean "upgrade"?)
//
// Every configuration error of this package is an *Error or an ErrorList of
// them, so one function (Pos.String) formats every position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// maxErrors is how many errors a parse reports before it gives up, as the
// Go compiler does: enough to fix a file in one go, not a wall of text
// caused by one systematic mistake.
const maxErrors = 10

// ErrorList is several configuration errors in input order, at most
// maxErrors of them plus a final "too many errors".
type ErrorList []*Error

// Error prints one error per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *Error values.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// add appends err (an *Error or an ErrorList) and reports whether there is
// room for more. Past maxErrors it appends one "too many errors" entry and
// drops the rest.
func (l *ErrorList) add(err error) bool {
	switch err := err.(type) {
	case nil:
	case ErrorList:
		for _, e := range err {
			if !l.add(e) {
				return false
			}
		}
	case *Error:
		switch {
		case len(*l) > maxErrors:
			return false
		case len(*l) == maxErrors:
			*l = append(*l, &Error{Pos: err.Pos, Msg: "too many errors"})
			return false
		}
		*l = append(*l, err)
	default:
		panic("rules: ErrorList.add: unexpected error type")
	}
	return len(*l) <= maxErrors
}

// err returns the list as an error, or nil when it is empty (a nil
// ErrorList stored in an error interface would not compare equal to nil),
// and the single *Error itself when there is only one.
func (l ErrorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// RequestError is why Table.Match will not proxy a request: the status
// Apache answers with for the same request, and a reason for the log.
type RequestError struct {
	Status int
	Reason string
}

func (e *RequestError) Error() string { return e.Reason }

// suggest returns the name in known closest to word, for a "did you mean"
// hint, or "" when none is close enough. Names are compared
// case-insensitively, as Apache compares parameter names (strcasecmp).
// Short words get no hint: every three-letter name is two edits from
// every other.
func suggest(word string, known []string) string {
	word = strings.ToLower(word)
	best, bestDist := "", min(2, len(word)/3)+1
	for _, k := range known {
		if d := spell.Distance(word, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}
