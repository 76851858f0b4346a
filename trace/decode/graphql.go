package decode

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// graphQL decodes both GraphQL-over-WebSocket protocols: graphql-ws's
// "graphql-transport-ws" (subscribe, next, error, complete, ping, pong)
// and the legacy subscriptions-transport-ws, whose subprotocol is
// confusingly "graphql-ws" (start, data, stop, ka...). Each message is a
// JSON object {"type", "id", "payload"}.
type graphQL struct {
	ops pending // by "dir id" of a subscribe or start, until its first answer
}

func newGraphQL() *graphQL { return &graphQL{} }

// graphQLTypes are the message types of both protocols.
var graphQLTypes = map[string]bool{
	"connection_init": true, "connection_ack": true, "ping": true, "pong": true,
	"subscribe": true, "next": true, "error": true, "complete": true,
	"connection_error": true, "ka": true, "start": true, "data": true,
	"stop": true, "connection_terminate": true,
}

// operation matches the first operation definition of a query text, with
// its name when it has one.
var operation = regexp.MustCompile(`(?:^|[\s}])(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?`)

func (g *graphQL) Decode(dir string, text bool, p []byte, at time.Time) (Decoded, bool) {
	d := Decoded{Protocol: "graphql-ws"}
	m, isObj, complete := object(p)
	typ := str(m["type"])
	if !isObj || !graphQLTypes[typ] {
		return d, false
	}
	d.Type = typ
	id := str(m["id"])
	d.Fields = fields("id", id)
	payload, _, _ := object(m["payload"])
	if m["payload"] == nil && !complete {
		// Cut inside the payload: its members before the cut.
		if i := bytes.Index(p, []byte(`"payload":`)); i >= 0 {
			payload, _, _ = object(p[i+len(`"payload":`):])
		}
	}
	desc := ""
	switch typ {
	case "subscribe", "start":
		kind, name := "", str(payload["operationName"])
		q := str(payload["query"])
		if sm := operation.FindStringSubmatch(stripComments(q)); sm != nil {
			kind = sm[1]
			if name == "" {
				name = sm[2]
			}
		} else if strings.HasPrefix(strings.TrimSpace(q), "{") {
			kind = "query"
		}
		d.Fields["operation"] = name
		d.Fields["kind"] = kind
		desc = strings.TrimSpace(kind + " " + name)
		if v := payload["variables"]; len(v) > 0 && str(v) != "" {
			desc += " " + compact(v)
		}
		g.ops.add(dir+" "+id, at, "")
	case "next", "data", "error", "complete", "connection_error":
		if typ != "complete" || dir == "down" {
			d.Latency, _ = g.ops.take(other(dir)+" "+id, at)
		}
		if errs := graphQLErrors(m["payload"], payload); errs != "" {
			d.Fields["error"] = errs
			desc = errs
		} else if data := payload["data"]; len(data) > 0 {
			desc = compact(data)
		}
	case "stop":
		g.ops.take(dir+" "+id, at)
	}
	if !complete {
		d.Fields["partial"] = "true"
	}
	for k, v := range d.Fields {
		if v == "" {
			delete(d.Fields, k)
		}
	}
	d.Summary = typ
	if id != "" {
		d.Summary += " id=" + id
	}
	if desc != "" {
		d.Summary += " " + clip(desc, 120)
	}
	return d, true
}

// graphQLErrors returns the messages of a payload's errors: an array of
// GraphQLError (graphql-ws's error), {"errors": [...]} (next, data) or a
// single {"message"} (legacy error, connection_error).
func graphQLErrors(raw json.RawMessage, obj map[string]json.RawMessage) string {
	list, isArr, _ := array(raw)
	if !isArr {
		if e := obj["errors"]; len(e) > 0 {
			list, _, _ = array(e)
		} else if msg := str(obj["message"]); msg != "" {
			return msg
		}
	}
	var msgs []string
	for _, e := range list {
		o, _, _ := object(e)
		if msg := str(o["message"]); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	return strings.Join(msgs, "; ")
}

// stripComments removes # comments from a GraphQL document, so that a
// commented-out operation is not taken for the real one.
func stripComments(q string) string {
	lines := strings.Split(q, "\n")
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}
