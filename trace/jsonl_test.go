package trace

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"
)

func TestJSONLFields(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONL(&b)
	for _, m := range samples() {
		j.Message(m)
	}
	if err := j.Err(); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"time": "2026-11-27T13:02:01.123456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 5.0, "text": "hello"},
		{"time": "2026-11-27T13:02:01.124456789Z", "tunnel": 3.0, "dir": "down", "opcode": "text", "len": 5.0, "text": "hello"},
		{"time": "2026-11-27T13:02:01.125456789Z", "tunnel": 3.0, "dir": "down", "opcode": "binary", "len": 4.0, "base64": "AAH+/w=="},
		{"time": "2026-11-27T13:02:01.126456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 0.0, "text": ""},
		{"time": "2026-11-27T13:02:01.127456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 1000.0, "text": samples()[4].Payload, "truncated": true},
		{"time": "2026-11-27T13:02:01.128456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 30.0, "text": "€€€€€", "truncated": true},
		{"time": "2026-11-27T13:02:01.129456789Z", "tunnel": 3.0, "dir": "down", "opcode": "binary", "len": 300.0, "base64": "q6urq6urq6s=", "truncated": true},
		// Not valid UTF-8 (\xff): base64, so that nothing is lost.
		{"time": "2026-11-27T13:02:01.130456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 34.0, "base64": samples()[7].Payload},
		{"time": "2026-11-27T13:02:01.131456789Z", "tunnel": 3.0, "dir": "up", "opcode": "text", "len": 7.0, "base64": "8kjNyckHAA==", "compressed": true, "wire_len": 7.0, "undecodable": true},
		{"time": "2026-11-27T13:02:01.132456789Z", "tunnel": 3.0, "dir": "up", "opcode": "ping", "len": 0.0},
		{"time": "2026-11-27T13:02:01.133456789Z", "tunnel": 3.0, "dir": "down", "opcode": "pong", "len": 4.0, "base64": "YWIBYw=="},
		{"time": "2026-11-27T13:02:01.134456789Z", "tunnel": 12.0, "dir": "down", "opcode": "text", "len": 13.0, "text": "<b>日本語</b>"},
		{"time": "2026-11-27T13:02:01.135456789Z", "tunnel": 3.0, "dir": "up", "opcode": "close", "len": 5.0, "close_code": 1000.0, "close_name": "normal closure", "close_reason": "bye"},
		{"time": "2026-11-27T13:02:01.136456789Z", "tunnel": 3.0, "dir": "down", "opcode": "close", "len": 0.0, "close_code": 1005.0, "close_name": "no status"},
		{"time": "2026-11-27T13:02:01.137456789Z", "tunnel": 12.0, "dir": "down", "opcode": "close", "len": 10.0, "close_code": 4001.0, "close_name": "private", "close_reason": "\x1b[2Jbad"},
		{"time": "2026-11-27T13:02:01.138456789Z", "tunnel": 3.0, "dir": "down", "opcode": "text", "len": 11.0, "text": "hello hello", "compressed": true, "wire_len": 9.0},
	}
	for i := range want {
		switch v := want[i]["text"].(type) {
		case []byte:
			want[i]["text"] = string(v)
		}
		switch v := want[i]["base64"].(type) {
		case []byte:
			want[i]["base64"] = base64.StdEncoding.EncodeToString(v)
		}
	}
	lines := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	lines.Buffer(nil, 1<<20)
	n := 0
	for ; lines.Scan(); n++ {
		var got map[string]any
		if err := json.Unmarshal(lines.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, lines.Bytes())
		}
		if n < len(want) && !reflect.DeepEqual(got, want[n]) {
			t.Errorf("line %d = %v\nwant      %v", n+1, got, want[n])
		}
	}
	if n != len(want) {
		t.Errorf("%d lines; want %d", n, len(want))
	}
	// HTML is not escaped: the line stays readable with grep.
	if !bytes.Contains(b.Bytes(), []byte(`"text":"<b>日本語</b>"`)) {
		t.Errorf("output escapes HTML or Unicode:\n%s", b.String())
	}
}

func TestJSONLStopsAfterWriteError(t *testing.T) {
	w := &failWriter{}
	j := NewJSONL(w)
	j.Message(samples()[0])
	j.Message(samples()[1])
	if w.n != 1 || j.Err() == nil {
		t.Errorf("after a failed write: %d writes, Err() = %v; want 1 write and the error", w.n, j.Err())
	}
}
