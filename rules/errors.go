package rules

import (
	"strings"
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
		if d := editDistance(word, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost one, so "upgarde" is one edit from "upgrade".
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
