package config

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// handler parses one keyword line (and its block, if any) into the model.
type handler func(p *parser, n *Node)

// keywords maps each keyword accepted in a block to its handler. A block's
// table is the single source of truth for what Vigil knows there: the
// unknown-keyword suggestion and the compatibility listing both read it.
type keywords map[string]handler

// parser turns a Node tree into the typed model, collecting every problem
// instead of stopping at the first one.
type parser struct {
	cfg   *Config
	diags Diagnostics
	// brokenGroups names the virtual_server_groups dropped because their
	// entries had errors, so references to them do not add a second,
	// misleading "not defined" error.
	brokenGroups map[string]bool
	// tables are the LVS keyword tables, built once per parse.
	tables lvsTables
	// actingWhere and actingFor cache checkActing's lookup of the block
	// being walked.
	actingWhere string
	actingFor   map[string]bool
}

// errorsSince reports whether an error was added after the first n
// diagnostics. Checks for something missing from a block use it to stay
// quiet when the block's own lines were already rejected: the missing
// piece is then a consequence, and the first error must be the cause.
func (p *parser) errorsSince(n int) bool {
	return p.diags[n:].HasErrors()
}

// walk dispatches each node of a block to its handler; where names the block
// in messages ("vrrp_instance VI_1").
func (p *parser) walk(nodes []*Node, kw keywords, where string) {
	for _, n := range nodes {
		h, ok := kw[n.Name]
		if !ok {
			p.unknown(n, kw, where)
			continue
		}
		before := len(p.diags)
		h(p, n)
		p.checkActing(n, where, before)
	}
}

// unknown reports a keyword that is not valid in this block and suggests the
// closest one that is. It is a tolerable error: keepalived logs it and
// starts without the line (and its block), and so may the daemon; `-t`
// rejects it, as keepalived's does.
func (p *parser) unknown(n *Node, kw keywords, where string) {
	msg := "unknown keyword \"" + n.Name + "\""
	if where != "" {
		msg += " in " + where
	}
	if s := nearest(n.Name, kw); s != "" {
		msg += "; did you mean \"" + s + "\"?"
	}
	p.diags.Tolerablef(n.Pos, "%s", msg)
}

// nearest returns the known keyword closest to name by edit distance, or ""
// when nothing is close enough to be a plausible typo.
func nearest(name string, kw keywords) string {
	names := make([]string, 0, len(kw))
	for k := range kw {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic choice between equal distances
	best, bestD := "", math.MaxInt
	for _, k := range names {
		d := editDistance(name, k)
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := len(name)/3 + 1
	if limit < 2 {
		limit = 2
	}
	if bestD > limit && !strings.Contains(best, name) && !strings.Contains(name, best) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// missing reports that block n lacks the keyword kw, unless a line with
// that keyword is there: it was rejected, its own error says why, and
// "missing" would only repeat the mistake under a different name.
func (p *parser) missing(n *Node, kw string, format string, args ...any) {
	for _, c := range n.Block {
		if c.Name == kw {
			return
		}
	}
	p.diags.Errorf(n.Pos, format, args...)
}

// nargs checks that n has between lo and hi arguments (hi < 0: no upper bound).
func (p *parser) nargs(n *Node, lo, hi int) bool {
	c := len(n.Args)
	switch {
	case c < lo && lo == hi:
		p.diags.Errorf(n.Pos, "%s needs %d argument(s), got %d", n.Name, lo, c)
	case c < lo:
		p.diags.Errorf(n.Pos, "%s needs at least %d argument(s), got %d", n.Name, lo, c)
	case hi >= 0 && c > hi && hi == 0:
		p.diags.Errorf(n.Pos, "%s takes no argument, got %q", n.Name, strings.Join(n.Args, " "))
	case hi >= 0 && c > hi:
		p.diags.Errorf(n.Pos, "%s takes at most %d argument(s), got %d", n.Name, hi, c)
	default:
		return true
	}
	return false
}

// block checks that n opened a block.
func (p *parser) block(n *Node) bool {
	if !n.HasBlock {
		p.diags.Errorf(n.Pos, "%s needs a { ... } block", n.Name)
		return false
	}
	return true
}

// noBlock checks that n did not open a block.
func (p *parser) noBlock(n *Node) bool {
	if n.HasBlock {
		p.diags.Errorf(n.Pos, "%s does not take a { ... } block", n.Name)
		return false
	}
	return true
}

// intArg parses argument i of n as an integer in [lo, hi].
func (p *parser) intArg(n *Node, i int, lo, hi int64) (int64, bool) {
	if i >= len(n.Args) {
		p.diags.Errorf(n.Pos, "%s: missing value", n.Name)
		return 0, false
	}
	v, err := strconv.ParseInt(n.Args[i], 10, 64)
	if err != nil {
		p.diags.Errorf(n.Pos, "%s: %q is not an integer", n.Name, n.Args[i])
		return 0, false
	}
	if v < lo || v > hi {
		p.diags.Errorf(n.Pos, "%s: %d is out of range [%d, %d]", n.Name, v, lo, hi)
		return 0, false
	}
	return v, true
}

// seconds parses argument i of n as a number of seconds, fractions allowed
// (keepalived accepts "advert_int 0.05"), in [lo, hi].
func (p *parser) seconds(n *Node, i int, lo, hi time.Duration) (time.Duration, bool) {
	if i >= len(n.Args) {
		p.diags.Errorf(n.Pos, "%s: missing value", n.Name)
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Args[i], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.diags.Errorf(n.Pos, "%s: %q is not a number of seconds", n.Name, n.Args[i])
		return 0, false
	}
	d := time.Duration(math.Round(f * float64(time.Second)))
	if f*float64(time.Second) > float64(math.MaxInt64) || d < lo || d > hi {
		p.diags.Errorf(n.Pos, "%s: %s is out of range [%s, %s]", n.Name, n.Args[i], lo, hi)
		return 0, false
	}
	return d, true
}

// flag handles a keyword that takes no argument, or keepalived's optional
// "true"/"false"/"on"/"off"/"yes"/"no" argument, and returns its value.
func (p *parser) flag(n *Node) (bool, bool) {
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return false, false
	}
	if len(n.Args) == 0 {
		return true, true
	}
	switch strings.ToLower(n.Args[0]) {
	case "true", "on", "yes", "1":
		return true, true
	case "false", "off", "no", "0":
		return false, true
	}
	p.diags.Errorf(n.Pos, "%s: %q is not a boolean (true/false, on/off, yes/no)", n.Name, n.Args[0])
	return false, false
}

// notSupported warns that a keyword is understood but Vigil does not act on
// it yet; the warning is the contract that nothing is silently ignored.
func (p *parser) notSupported(n *Node) {
	p.notSupportedWhy(n, notActingWhy[n.Name])
}

// notSupportedWhy is notSupported with the reason, when there is one.
// Built without fmt: a file of many virtual servers has one per server.
func (p *parser) notSupportedWhy(n *Node, why string) {
	msg := n.Name + " is parsed but " + notSupportedPhrase + "; it has no effect"
	if why != "" {
		msg = n.Name + " is parsed but " + notSupportedPhrase + " (" + why + "); it has no effect"
	}
	p.diags = append(p.diags, Diagnostic{Pos: n.Pos, Severity: Warning, Msg: msg})
}

// The constructors below build handlers for the common keyword shapes, so a
// block's keyword table reads as a list of "keyword: what it sets".

// setString handles a keyword with exactly one argument stored as a string.
func setString(dst *string) handler {
	return func(p *parser, n *Node) {
		if p.noBlock(n) && p.nargs(n, 1, 1) {
			*dst = n.Args[0]
		}
	}
}

// setBool handles a flag keyword (optional boolean argument).
func setBool(dst *bool) handler {
	return func(p *parser, n *Node) {
		if v, ok := p.flag(n); ok {
			*dst = v
		}
	}
}

// setBoolPtr is setBool for settings whose absence is meaningful.
func setBoolPtr(dst **bool) handler {
	return func(p *parser, n *Node) {
		if v, ok := p.flag(n); ok {
			*dst = &v
		}
	}
}

// setInt handles a keyword with one integer argument in [lo, hi].
func setInt(dst *int, lo, hi int64) handler {
	return func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, 1) {
			return
		}
		if v, ok := p.intArg(n, 0, lo, hi); ok {
			*dst = int(v)
		}
	}
}

// setIntPtr is setInt for settings whose absence is meaningful.
func setIntPtr(dst **int, lo, hi int64) handler {
	return func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, 1) {
			return
		}
		if v, ok := p.intArg(n, 0, lo, hi); ok {
			iv := int(v)
			*dst = &iv
		}
	}
}

// setSeconds handles a keyword with one (possibly fractional) number of
// seconds in [lo, hi].
func setSeconds(dst *time.Duration, lo, hi time.Duration) handler {
	return func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, 1) {
			return
		}
		if v, ok := p.seconds(n, 0, lo, hi); ok {
			*dst = v
		}
	}
}

// setWholeSeconds handles a keyword with one whole number of seconds in
// [lo, hi]; keepalived reads these with an integer parser and rejects
// fractions.
func setWholeSeconds(dst *time.Duration, lo, hi int64) handler {
	return func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, 1) {
			return
		}
		if v, ok := p.intArg(n, 0, lo, hi); ok {
			*dst = time.Duration(v) * time.Second
		}
	}
}

// unsupported wraps h: the value is parsed and stored, then the keyword is
// reported as not acted on.
func unsupported(h handler) handler {
	return func(p *parser, n *Node) {
		p.notSupported(n)
		h(p, n)
	}
}

// deprecated wraps h with a warning naming the keyword to use instead.
func deprecated(h handler, instead string) handler {
	return func(p *parser, n *Node) {
		h(p, n)
		p.diags.Warnf(n.Pos, "%s is deprecated; use %s", n.Name, instead)
	}
}
