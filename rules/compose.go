package rules

import (
	"slices"
	"time"
)

// The command line adds to a table read from a file as lines at its top or
// its end would: every virtual host holds merged copies of the main
// server's rules (mergeHosts), so an addition goes to each server. These
// methods keep that knowledge here.

// Prepend puts rs and their balancers before the table's own rules, in
// the main server and every virtual host, as lines at the top of the file
// would be (the --pass and --pass-match flags). Call Validate afterwards:
// a rule may name a balancer of the file.
func (t *Table) Prepend(rs []*Rule, bs []*Balancer) {
	t.Balancers = append(slices.Clone(bs), t.Balancers...)
	for _, s := range t.Servers() {
		s.Rules = append(slices.Clone(rs), s.Rules...)
		s.Balancers = t.Balancers
	}
}

// Append puts r after every server's rules, as a line at the end of the
// file would be (serve's lone backend URL, --demo).
func (t *Table) Append(r *Rule) {
	for _, s := range t.Servers() {
		s.Rules = append(s.Rules, r)
	}
}

// SetTimeout sets the Timeout directive in every server (--timeout).
func (t *Table) SetTimeout(d time.Duration) {
	for _, s := range t.Servers() {
		s.Timeout = d
	}
}
