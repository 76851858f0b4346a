package rules

import (
	"errors"
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	at := func(col int) Pos { return Pos{File: "f", Line: 2, Col: col} }
	tests := []struct {
		name string
		line string
		want []arg
	}{
		{"empty", "", nil},
		{"blank", " \t ", nil},
		{"words", "  a\tbc  d", []arg{{"a", at(3)}, {"bc", at(5)}, {"d", at(9)}}},
		{"double quotes", `"a b" c`, []arg{{"a b", at(1)}, {"c", at(7)}}},
		{"single quotes", `'a "b"'`, []arg{{`a "b"`, at(1)}}},
		{"empty quoted", `"" x`, []arg{{"", at(1)}, {"x", at(4)}}},
		{"escaped quote", `"/m\"n/"`, []arg{{`/m"n/`, at(1)}}},
		{"escaped single quote", `'/c\'d/'`, []arg{{`/c'd/`, at(1)}}},
		{"escaped backslash before closing quote", `"/k\\" x`, []arg{{`/k\`, at(1)}, {"x", at(8)}}},
		{"other backslash kept in quotes", `"a\b\'"`, []arg{{`a\b\'`, at(1)}}},
		{"double backslash unquoted", `/g\\h/`, []arg{{`/g\h/`, at(1)}}},
		{"lone backslash unquoted", `a\b\"`, []arg{{`a\b\"`, at(1)}}},
		{"word right after closing quote", `"a"b`, []arg{{"a", at(1)}, {"b", at(4)}}},
		{"quote inside a word", `a"b c"`, []arg{{`a"b`, at(1)}, {`c"`, at(5)}}},
		{"non-ASCII", "é x", []arg{{"é", at(1)}, {"x", at(4)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := splitArgs(at(1), tc.line)
			if err != nil {
				t.Fatalf("splitArgs(%q): %v", tc.line, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("splitArgs(%q) = %v; want %v", tc.line, got, tc.want)
			}
		})
	}
}

func TestSplitArgsEnd(t *testing.T) {
	_, end, err := splitArgs(Pos{File: "f", Line: 1, Col: 11}, "/a b ")
	if want := (Pos{File: "f", Line: 1, Col: 16}); err != nil || end != want {
		t.Errorf("splitArgs end = %v, %v; want %v", end, err, want)
	}
}

func TestSplitArgsUnterminated(t *testing.T) {
	tests := []struct {
		name, line string
		want       Error
	}{
		{"double", `a "b c`, Error{Pos{"f", 1, 3}, `unterminated quoted argument: missing closing "`}},
		{"single", `'a`, Error{Pos{"f", 1, 1}, `unterminated quoted argument: missing closing '`}},
		{"escaped closing quote", `x "a\"`, Error{Pos{"f", 1, 3}, `unterminated quoted argument: missing closing "`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := splitArgs(Pos{File: "f", Line: 1}, tc.line)
			var got *Error
			if !errors.As(err, &got) || *got != tc.want {
				t.Errorf("splitArgs(%q) error = %v; want %v", tc.line, err, &tc.want)
			}
		})
	}
}
