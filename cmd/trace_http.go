package cmd

import (
	"github.com/wsgate/wsgate/trace"
	"github.com/wsgate/wsgate/tunnel"
)

// configureHTTP traces the plain HTTP requests too (issue 20): a
// Socket.IO client's long polling passes there before its upgrade, and
// its packets are decoded unless --decode says otherwise.
func (tr *tracing) configureHTTP(cfg *tunnel.Config) {
	tr.polling = trace.NewHTTPDecoder(tr.tunnels.Decoder)
	tr.tunnels.Takeover = tr.polling.Takeover // the upgrade goes on in the session
	cfg.OnHTTP = tr.exchange
}

// exchange hands x to every writer that is on, from its request's
// handler once the answer was written, unless --trace-filter leaves it
// out.
func (tr *tracing) exchange(x tunnel.HTTPExchange) {
	packets := tr.polling.Decode(x)
	if !tr.filter.MatchHTTP(x, packets) {
		return
	}
	if tr.text != nil {
		tr.text.HTTP(x, packets)
	}
	if tr.jsonl != nil {
		tr.jsonl.HTTP(x, packets)
	}
	if tr.har != nil {
		tr.har.HTTP(x)
	}
}
