package decode

import (
	"bytes"
	"encoding/json"
	"strings"
)

// object reads the members of the JSON object at the start of p as far
// as p goes: a payload cut by --trace-bytes still gives the members
// before the cut, and the member it cuts with a nil value (a JSON-RPC
// response cut in its "result" is still a response). isObject is false when p does not start with an object;
// complete is false when p ended, or stopped being JSON, before it did.
func object(p []byte) (members map[string]json.RawMessage, isObject, complete bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false, false
	}
	members = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return members, true, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			members[key] = nil
			return members, true, false
		}
		members[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return members, true, false
	}
	return members, true, true
}

// array reads the elements of the JSON array at the start of p as far as
// p goes, like object.
func array(p []byte) (elems []json.RawMessage, isArray, complete bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, false, false
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return elems, true, false
		}
		elems = append(elems, raw)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return elems, true, false
	}
	return elems, true, true
}

// str returns a JSON value as text: a string unquoted, anything else as
// written ("" for null or nothing).
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if t := strings.TrimSpace(string(raw)); t != "null" {
		return t
	}
	return ""
}

// compact returns a JSON value on one line, for a summary.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
