package config

import (
	"fmt"
	"strconv"
	"strings"
)

// The preprocessor of keepalived.conf (man 5 keepalived.conf, "ADVANCED
// CONFIGURATION"), as keepalived 2.2.7 implements it:
//
//   - "@ID rest" keeps rest only when ID is the config id; "@^ID rest" only
//     when it is not. Without a config id every "@ID" line is dropped.
//   - "$NAME=value" (no blank before '=') defines a parameter; a value ending
//     in '\' continues on the following lines until a line without '\' or an
//     empty line. Lines starting with '$' that are not of this form are
//     ordinary lines.
//   - "$NAME" followed by a blank, ',', ')' or the end of the line, and
//     "${NAME}" anywhere, are replaced by the value, recursively, at the time
//     of use. Undefined names are left as they are. A multi-line parameter is
//     only replaced when it ends the line; its first line replaces the
//     reference and its other lines follow.
//   - Built-ins: ${_PWD} (directory of the current file), ${_INSTANCE} (the
//     config id), ${_RANDOM [MIN [MAX]]}, ${_HASH} ('#') and ${_BANG} ('!').
//     keepalived strips comments again after a replacement, so a '#' or '!'
//     produced this way outside double quotes still starts a comment.
//   - "~SEQ(var, start, step, end) text", "~SEQx(...)" (hex) and
//     "~LST(var, v1, v2...)" / "~LST({a,b}, {1,2}, ...)" repeat text with
//     $var set to each value; they nest.
//
// keepalived 2.2.7 has no parameters with arguments ($NAME(a,b)=) for user
// definitions and no environment built-in.

// ppDef is one parameter definition.
type ppDef struct {
	value     string // lines separated by '\n' when multiline
	multiline bool
	// builtin computes the value at each use; params are the digits given
	// inside the braces (only _RANDOM takes any).
	builtin   func(r *reader, params string, pos Pos) string
	maxParams int
}

// ppBuiltins returns the pre-defined parameters.
func ppBuiltins() map[string]*ppDef {
	return map[string]*ppDef{
		"_PWD":      {builtin: func(r *reader, _ string, _ Pos) string { return r.currentDir(true) }},
		"_INSTANCE": {builtin: func(r *reader, _ string, _ Pos) string { return r.opts.ConfigID }},
		"_RANDOM":   {builtin: ppRandom, maxParams: 2},
		"_HASH":     {value: "#"},
		"_BANG":     {value: "!"},
	}
}

// ppRandom implements ${_RANDOM [MIN [MAX]]}: an integer in [MIN, MAX],
// defaults 0 and 32767.
func ppRandom(r *reader, params string, pos Pos) string {
	lo, hi := uint64(0), uint64(32767)
	f := strings.Fields(params)
	if len(f) > 2 {
		r.diags.Warnf(pos, "${_RANDOM %s}: too many parameters, only MIN and MAX are used", params)
	}
	for i, s := range f[:min(len(f), 2)] {
		v, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			r.diags.Errorf(pos, "${_RANDOM %s}: %q is not a valid number", params, s)
			return "0"
		}
		if i == 0 {
			lo = v
		} else {
			hi = v
		}
	}
	if lo > hi {
		r.diags.Errorf(pos, "${_RANDOM %s}: MIN %d is greater than MAX %d", params, lo, hi)
		return strconv.FormatUint(lo, 10)
	}
	n := int64(hi - lo + 1)
	if n <= 0 { // the whole uint63 range
		n = 1<<63 - 1
	}
	return strconv.FormatUint(lo+uint64(r.random(n)), 10)
}

// ppIsNameStart and ppIsNameChar define parameter names: [A-Za-z_][A-Za-z0-9_]*.
func ppIsNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func ppIsNameChar(c byte) bool { return ppIsNameStart(c) || (c >= '0' && c <= '9') }

// ppCondition applies an "@ID" or "@^ID" prefix. keep is false when the line
// is to be dropped; otherwise rest is the line without the prefix.
func ppCondition(line, configID string) (rest string, keep bool) {
	neg := len(line) > 1 && line[1] == '^'
	off := 1
	if neg {
		off = 2
	}
	sp := strings.IndexAny(line[off:], " \t")
	if sp < 0 {
		return "", false // nothing after the id
	}
	id := line[off : off+sp]
	match := configID != "" && id == configID
	if match == neg {
		return "", false
	}
	return strings.TrimLeft(line[off+sp:], " \t"), true
}

// ppParseDefinition recognises "$NAME=value". ok is false for any other line.
// For a value ending in '\', multiline is set and value holds the first line
// followed by '\n' (or is empty when nothing precedes the '\').
func ppParseDefinition(line string) (name, value string, multiline, ok bool) {
	if len(line) < 2 || line[0] != '$' || !ppIsNameStart(line[1]) {
		return "", "", false, false
	}
	k := 2
	for k < len(line) && ppIsNameChar(line[k]) {
		k++
	}
	if k >= len(line) || line[k] != '=' {
		return "", "", false, false
	}
	name = line[1:k]
	value = strings.TrimLeft(line[k+1:], " \t")
	if strings.HasSuffix(value, `\`) {
		value = strings.TrimRight(value[:len(value)-1], " \t")
		if value != "" {
			value += "\n"
		}
		return name, value, true, true
	}
	return name, value, false, true
}

// ppRef is one parameter reference found in a line.
type ppRef struct {
	def    *ppDef
	end    int    // index after the reference
	params string // digits inside ${NAME ...}
}

// ppMatchRef checks whether the '$' at s[i] starts a reference to a defined
// parameter, applying keepalived's rules on what may follow a name.
func ppMatchRef(defs map[string]*ppDef, s string, i int, allowMultiline bool) (ppRef, bool) {
	j := i + 1
	braces := j < len(s) && s[j] == '{'
	if braces {
		j++
	}
	if j >= len(s) || !ppIsNameStart(s[j]) {
		return ppRef{}, false
	}
	k := j + 1
	for k < len(s) && ppIsNameChar(s[k]) {
		k++
	}
	name := s[j:k]
	var ref ppRef
	if braces {
		p, ps, pe := k, -1, -1
		for p < len(s) && (s[p] == ' ' || (s[p] >= '0' && s[p] <= '9')) {
			if s[p] != ' ' {
				if ps < 0 {
					ps = p
				}
				pe = p
			}
			p++
		}
		if ps >= 0 && pe+1 != p {
			return ppRef{}, false // parameters must not end with a blank
		}
		if p >= len(s) || s[p] != '}' {
			return ppRef{}, false
		}
		if ps >= 0 {
			ref.params = s[ps : pe+1]
		}
		ref.end = p + 1
	} else {
		if k < len(s) && !strings.ContainsRune(" \t,)", rune(s[k])) {
			return ppRef{}, false
		}
		ref.end = k
	}
	def := defs[name]
	if def == nil {
		return ppRef{}, false
	}
	if def.multiline && (!allowMultiline || ref.end != len(s)) {
		return ppRef{}, false
	}
	if ref.params != "" && def.maxParams == 0 {
		return ppRef{}, false
	}
	ref.def = def
	return ref, true
}

// ppSeq is a parsed ~SEQ or ~LST line: the values to give each variable,
// one set per repetition, and the text to repeat.
type ppSeq struct {
	vars []string
	// next returns the values for repetition i, for i < count.
	next  func(i int64) []string
	count int64
	text  string
}

// ppParseSeq parses "~SEQ(var, [start,] [step,] end) text" or its ~SEQx
// form. subst replaces parameters in the numbers (keepalived allows them
// there).
func ppParseSeq(line string, subst func(string) string) (*ppSeq, error) {
	p := line[4:]
	hex := strings.HasPrefix(p, "x")
	if hex {
		p = p[1:]
	}
	p = strings.TrimLeft(p, " \t")
	if !strings.HasPrefix(p, "(") {
		return nil, fmt.Errorf("'(' expected after ~SEQ")
	}
	p = strings.TrimLeft(p[1:], " \t")
	v := strings.IndexAny(p, " \t,)")
	if v <= 0 {
		return nil, fmt.Errorf("missing variable name")
	}
	name := p[:v]
	p = strings.TrimLeft(p[v:], " \t")
	if !strings.HasPrefix(p, ",") {
		return nil, fmt.Errorf("',' expected after the variable name")
	}
	closeAt := strings.IndexByte(p, ')')
	if closeAt < 0 {
		return nil, fmt.Errorf("missing ')'")
	}
	text := strings.TrimLeft(p[closeAt+1:], " \t")
	nums := subst(p[1 : closeAt+1])
	var vals []int64
	rest := nums
	for {
		n, r, overflow := lexStrtol(rest)
		if overflow {
			return nil, fmt.Errorf("number out of range")
		}
		vals = append(vals, n)
		r = strings.TrimLeft(r, " \t")
		if strings.HasPrefix(r, ")") && strings.TrimSpace(r[1:]) == "" {
			break
		}
		if !strings.HasPrefix(r, ",") || len(vals) == 3 {
			return nil, fmt.Errorf("invalid numbers %q", strings.TrimSuffix(nums, ")"))
		}
		rest = r[1:]
	}
	var start, step, end int64
	switch len(vals) {
	case 1:
		end = vals[0]
		step, start = 1, 1
		if end < 1 {
			step = -1
		}
		if end < 0 {
			start = -1
		}
	case 2:
		start, end = vals[0], vals[1]
		step = 1
		if start > end {
			step = -1
		}
	default:
		start, step, end = vals[0], vals[1], vals[2]
		if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
			return nil, fmt.Errorf("step %d never goes from %d to %d", step, start, end)
		}
	}
	if hex && (start < 0 || end < 0) {
		return nil, fmt.Errorf("~SEQx is only valid for non-negative numbers")
	}
	// Number of values, computed without overflow.
	var span uint64
	if step > 0 {
		span = uint64(end) - uint64(start)
	} else {
		span = uint64(start) - uint64(end)
	}
	astep := uint64(step)
	if step < 0 {
		astep = uint64(-step)
	}
	count := span/astep + 1
	if count > 1<<62 {
		count = 1 << 62
	}
	return &ppSeq{
		vars:  []string{name},
		count: int64(count),
		text:  text,
		next: func(i int64) []string {
			n := start + i*step
			if hex {
				return []string{strconv.FormatUint(uint64(n), 16)}
			}
			return []string{strconv.FormatInt(n, 10)}
		},
	}, nil
}

// ppParseList parses "~LST(var, v1, v2...) text" and
// "~LST({a, b}, {1, 2}, {3, 4}...) text". A value set with fewer values than
// variables leaves the others empty.
func ppParseList(line string) (*ppSeq, error) {
	p := strings.TrimLeft(line[4:], " \t")
	if !strings.HasPrefix(p, "(") {
		return nil, fmt.Errorf("'(' expected after ~LST")
	}
	p = strings.TrimLeft(p[1:], " \t")
	// A list of names, in braces or alone.
	readGroup := func(stop string) ([]string, error) {
		var out []string
		end := byte(',')
		if strings.HasPrefix(p, "{") {
			end = '}'
			p = strings.TrimLeft(p[1:], " \t")
		}
		for {
			k := strings.IndexAny(p, stop)
			if k < 0 {
				return nil, fmt.Errorf("unexpected end of line")
			}
			out = append(out, p[:k])
			p = strings.TrimLeft(p[k:], " \t")
			if p == "" {
				return nil, fmt.Errorf("unexpected end of line")
			}
			if end == '}' && p[0] == '}' {
				p = strings.TrimLeft(p[1:], " \t")
				return out, nil
			}
			if end == ',' {
				return out, nil
			}
			if p[0] != ',' {
				return nil, fmt.Errorf("unexpected %q", p[0])
			}
			p = strings.TrimLeft(p[1:], " \t")
		}
	}
	vars, err := readGroup(" \t,}")
	if err != nil {
		return nil, err
	}
	for _, v := range vars {
		if v == "" {
			return nil, fmt.Errorf("empty variable name")
		}
	}
	if !strings.HasPrefix(p, ",") {
		return nil, fmt.Errorf("',' expected after the variable names")
	}
	p = strings.TrimLeft(p[1:], " \t")
	var sets [][]string
	for {
		vals, err := readGroup(" \t,})")
		if err != nil {
			return nil, err
		}
		if len(vals) > len(vars) {
			return nil, fmt.Errorf("a value set has %d values for %d variables", len(vals), len(vars))
		}
		for len(vals) < len(vars) {
			vals = append(vals, "")
		}
		sets = append(sets, vals)
		if strings.HasPrefix(p, ")") {
			p = strings.TrimLeft(p[1:], " \t")
			break
		}
		if !strings.HasPrefix(p, ",") {
			return nil, fmt.Errorf("',' or ')' expected after a value")
		}
		p = strings.TrimLeft(p[1:], " \t")
	}
	return &ppSeq{
		vars:  vars,
		count: int64(len(sets)),
		text:  p,
		next:  func(i int64) []string { return sets[i] },
	}, nil
}

// Include checks, as keepalived's include_check and the include variants.
const (
	ppIncRead     = 1 << iota // error if a match is unreadable, a directory, executable
	ppIncMatch                // error if a file named without wildcards is missing
	ppIncWildcard             // error if a wildcard pattern matches nothing
	ppIncBrace                // error if a {a,b} alternative is missing
	ppIncAll      = ppIncRead | ppIncMatch | ppIncWildcard | ppIncBrace
)

// ppIncludeLine recognises "include PATTERN" and its variants includer,
// includem, includew, includeb and includea. The pattern is the rest of the
// line, verbatim (keepalived removes no quotes there).
func ppIncludeLine(line string) (pattern string, checks int, ok bool) {
	if !strings.HasPrefix(line, "include") || len(line) < 9 {
		return "", 0, false
	}
	switch c := line[7]; {
	case lexIsSpace(c):
		return strings.TrimLeft(line[8:], " \t"), 0, true
	case lexIsSpace(line[8]):
		p := strings.TrimLeft(line[9:], " \t")
		switch c {
		case 'r':
			return p, ppIncRead, true
		case 'm':
			return p, ppIncRead | ppIncMatch, true
		case 'w':
			return p, ppIncRead | ppIncMatch | ppIncWildcard, true
		case 'b':
			return p, ppIncRead | ppIncBrace, true
		case 'a':
			return p, ppIncAll, true
		}
	}
	return "", 0, false
}

// ppIncludeCheck applies the arguments of global_defs' include_check to cur.
// No argument enables every check; a first word without sign sets the checks
// to "read" plus that one; +word adds and -word removes.
func ppIncludeCheck(cur int, args []string) (int, []string) {
	if len(args) == 0 {
		return ppIncAll, nil
	}
	var problems []string
	for i, w := range args {
		sign := byte(0)
		name := w
		if w != "" && (w[0] == '+' || w[0] == '-') {
			sign, name = w[0], w[1:]
		} else if i > 0 {
			problems = append(problems, fmt.Sprintf("include_check %q: only the first check may be given without + or -; ignored", w))
			continue
		}
		var flag int
		switch name {
		case "read":
			flag = ppIncRead
		case "match":
			flag = ppIncMatch
		case "wildcard_match":
			flag = ppIncWildcard
		case "brace_match":
			flag = ppIncBrace
		case "readable":
			problems = append(problems, `include_check "readable" is not known to keepalived (it spells it "read"); ignored`)
			continue
		default:
			problems = append(problems, fmt.Sprintf("unknown include_check type %q (read, match, wildcard_match, brace_match); ignored", name))
			continue
		}
		switch sign {
		case 0:
			cur = ppIncRead | flag
		case '+':
			cur |= flag
		default:
			cur &^= flag
		}
	}
	return cur, problems
}
