package rules

import (
	"net/url"
	"time"
)

// Balancer is a <Proxy "balancer://NAME"> section with its BalancerMember
// and ProxySet lines, as mod_proxy_balancer reads them. A rule whose target
// is balancer://NAME/... sends each new tunnel to one of its members.
type Balancer struct {
	Pos  Pos
	Name string // NAME of balancer://NAME, lower case as Apache keys it
	// Method is lbmethod=: "byrequests" (Apache's default), "bybusyness"
	// or "bytraffic".
	Method string
	// StickySession is stickysession=: the cookie and URL parameter names
	// that carry a route, "NAME" or "COOKIE|PARAM". Empty: not sticky.
	StickySession string
	// NoFailover is nofailover=On: a sticky request whose member is
	// unusable fails instead of going elsewhere.
	NoFailover bool
	Members    []*Member
}

// Member is one BalancerMember.
type Member struct {
	Pos Pos
	// URL is the member's base URL (ws, wss, http or https), without a
	// query; the request's path after balancer://NAME is appended to it.
	URL *url.URL
	// LoadFactor is loadfactor=, 1 to 100; 1 when not given.
	LoadFactor int
	// Route is route=, matched against a sticky session's route.
	Route string
	// Status flags from status=: +H hot standby, +D disabled, +E in
	// error at start.
	HotStandby, Disabled, InError bool
	// Retry is retry=: how long a member whose connection failed is left
	// out before it is tried again. Zero: 60 s, Apache's default.
	Retry time.Duration
	// Upgrade, Timeout and ConnectTimeout are the member's upgrade=,
	// timeout= and connectiontimeout= (zero values: not set), as for a
	// ProxyPass rule.
	Upgrade                 string
	Timeout, ConnectTimeout time.Duration
	// Check is the member's health check (mod_proxy_hcheck); zero: none.
	Check HealthCheck
}

// HealthCheck is the hc* parameters of a member.
type HealthCheck struct {
	// Method is hcmethod=: "TCP", "GET", "HEAD", or "" for no check.
	Method string
	// URI is hcuri=, the path asked for by GET and HEAD checks.
	URI string
	// Interval is hcinterval=; zero: 30 s, as Apache.
	Interval time.Duration
	// Passes and Fails are hcpasses= and hcfails=: how many checks in a row
	// bring a member back or take it out; zero: 1, as Apache.
	Passes, Fails int
}
