package decode

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// jsonRPC decodes JSON-RPC 2.0 (https://www.jsonrpc.org/specification):
// requests, notifications (no id), responses with result or error, and
// batches (arrays of them). Either side may call the other, so a response
// is matched with a request from the opposite direction by id.
type jsonRPC struct {
	calls pending // by "dir id" of a request, noting its method
}

func newJSONRPC() *jsonRPC { return &jsonRPC{} }

func (j *jsonRPC) Decode(dir string, text bool, p []byte, at time.Time) (Decoded, bool) {
	if elems, isArr, complete := array(p); isArr {
		return j.batch(dir, elems, complete, at)
	}
	m, isObj, complete := object(p)
	if !isObj {
		return Decoded{}, false
	}
	d, ok := j.one(dir, m, at)
	if ok && !complete && m["id"] == nil && d.Type == "notification" {
		// Cut before its id, if it has one: a request or a notification.
		d.Type = "call"
	}
	if ok && !complete {
		d.Fields["partial"] = "true"
	}
	return d, ok
}

// one decodes a request, notification or response.
func (j *jsonRPC) one(dir string, m map[string]json.RawMessage, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "jsonrpc"}
	id := strings.TrimSpace(string(m["id"]))
	method := str(m["method"])
	_, hasResult := m["result"]
	_, hasError := m["error"]
	switch {
	case method != "" && id != "" && id != "null":
		d.Type = "request"
		j.calls.add(dir+" "+id, at, method)
		d.Summary = fmt.Sprintf("%s id=%s %s", method, id, clip(compact(m["params"]), 100))
	case method != "":
		d.Type = "notification"
		d.Summary = fmt.Sprintf("%s %s", method, clip(compact(m["params"]), 100))
	case hasResult || hasError:
		d.Type = "response"
		key := other(dir) + " " + id
		d.Latency, method = j.calls.take(key, at)
		if hasError {
			d.Type = "error"
			e, _, _ := object(m["error"])
			msg, code := str(e["message"]), str(e["code"])
			if msg == "" && code == "" {
				msg = compact(m["error"])
			}
			d.Fields = fields("error", msg, "code", code)
			d.Summary = fmt.Sprintf("error%s %s %s", idText(id), code, msg)
		} else {
			d.Summary = fmt.Sprintf("result%s %s", idText(id), clip(compact(m["result"]), 100))
		}
		if method != "" {
			d.Summary += " (" + method + ")"
		}
	default:
		return d, false
	}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	if method != "" {
		d.Fields["method"] = method
	}
	if id != "" && id != "null" {
		d.Fields["id"] = str(m["id"])
	}
	d.Summary = strings.TrimSpace(d.Summary)
	return d, true
}

// idText is " id=ID" for a summary, "" when the id is not known (cut off
// by --trace-bytes: JSON-RPC's members come in any order).
func idText(id string) string {
	if id == "" {
		return ""
	}
	return " id=" + id
}

// batch decodes an array of requests or responses. Its latency is the
// longest of its responses'.
func (j *jsonRPC) batch(dir string, elems []json.RawMessage, complete bool, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "jsonrpc", Type: "batch", Fields: map[string]string{}}
	var parts, methods, ids []string
	for _, e := range elems {
		m, isObj, _ := object(e)
		if !isObj {
			return d, false
		}
		one, ok := j.one(dir, m, at)
		if !ok {
			return d, false
		}
		d.Latency = max(d.Latency, one.Latency)
		parts = append(parts, one.Summary)
		if v := one.Fields["method"]; v != "" {
			methods = append(methods, v)
		}
		if v := one.Fields["id"]; v != "" {
			ids = append(ids, v)
		}
		if v := one.Fields["error"]; v != "" {
			d.Fields["error"] = v
		}
	}
	if len(elems) == 0 && complete {
		return d, false // an empty batch is invalid; not ours to describe
	}
	d.Fields["count"] = fmt.Sprint(len(elems))
	d.Fields["method"] = strings.Join(methods, ",")
	d.Fields["id"] = strings.Join(ids, ",")
	if !complete {
		d.Fields["partial"] = "true"
	}
	for k, v := range d.Fields {
		if v == "" {
			delete(d.Fields, k)
		}
	}
	d.Summary = clip(fmt.Sprintf("batch of %d: %s", len(elems), strings.Join(parts, "; ")), 160)
	return d, true
}
