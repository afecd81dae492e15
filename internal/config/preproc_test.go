package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestPPCondition(t *testing.T) {
	tests := []struct {
		line, id, rest string
		keep           bool
	}{
		{"@main a b", "main", "a b", true},
		{"@main a", "backup", "", false},
		{"@^main a", "backup", "a", true},
		{"@^main a", "main", "", false},
		{"@main a", "", "", false},
		{"@^main a", "", "a", true},
		{"@main", "main", "", false},
		{"@main\t  x", "main", "x", true},
		{"@mai a", "main", "", false},
	}
	for _, tt := range tests {
		rest, keep := ppCondition(tt.line, tt.id)
		if rest != tt.rest || keep != tt.keep {
			t.Errorf("ppCondition(%q, %q) = %q, %v; want %q, %v", tt.line, tt.id, rest, keep, tt.rest, tt.keep)
		}
	}
}

func TestPPParseDefinition(t *testing.T) {
	tests := []struct {
		line, name, value string
		multi, ok         bool
	}{
		{"$A=1", "A", "1", false, true},
		{"$A=  x y", "A", "x y", false, true},
		{"$A=", "A", "", false, true},
		{"$_a9=v", "_a9", "v", false, true},
		{`$A=first \`, "A", "first\n", true, true},
		{`$A=\`, "A", "", true, true},
		{`$A=  \`, "A", "", true, true},
		{"$A =1", "", "", false, false},
		{"$9=1", "", "", false, false},
		{"$A-B=1", "", "", false, false},
		{"$A", "", "", false, false},
		{"A=1", "", "", false, false},
	}
	for _, tt := range tests {
		name, value, multi, ok := ppParseDefinition(tt.line)
		if name != tt.name || value != tt.value || multi != tt.multi || ok != tt.ok {
			t.Errorf("ppParseDefinition(%q) = %q, %q, %v, %v; want %q, %q, %v, %v",
				tt.line, name, value, multi, ok, tt.name, tt.value, tt.multi, tt.ok)
		}
	}
}

func TestPPMatchRef(t *testing.T) {
	defs := map[string]*ppDef{
		"N": {value: "v"},
		"M": {value: "a\nb", multiline: true},
		"R": {maxParams: 2, builtin: func(*reader, string, Pos) string { return "" }},
	}
	tests := []struct {
		s      string
		ok     bool
		end    int
		params string
	}{
		{"$N", true, 2, ""},
		{"$N x", true, 2, ""},
		{"$N,", true, 2, ""},
		{"$N)", true, 2, ""},
		{"$N.", false, 0, ""},
		{"$Nx", false, 0, ""},
		{"${N}x", true, 4, ""},
		{"${N }", true, 5, ""},
		{"${N 1}", false, 0, ""},
		{"${R 1 2}", true, 8, "1 2"},
		{"${R 1 }", false, 0, ""},
		{"${R x}", false, 0, ""},
		{"${N", false, 0, ""},
		{"$M", true, 2, ""},
		{"${M}", true, 4, ""},
		{"$M x", false, 0, ""},
		{"$", false, 0, ""},
		{"$9", false, 0, ""},
		{"$UNDEF", false, 0, ""},
	}
	for _, tt := range tests {
		ref, ok := ppMatchRef(defs, tt.s, 0, true)
		if ok != tt.ok || (ok && (ref.end != tt.end || ref.params != tt.params)) {
			t.Errorf("ppMatchRef(%q) = %+v, %v; want end %d params %q ok %v", tt.s, ref, ok, tt.end, tt.params, tt.ok)
		}
	}
	if _, ok := ppMatchRef(defs, "$M", 0, false); ok {
		t.Errorf("multi-line parameter matched where not allowed")
	}
}

// seqValues lists every value set a ~SEQ or ~LST produces.
func seqValues(s *ppSeq) []string {
	var out []string
	for i := int64(0); i < s.count; i++ {
		out = append(out, strings.Join(s.next(i), "/"))
	}
	return out
}

func TestPPParseSeq(t *testing.T) {
	id := func(s string) string { return s }
	tests := []struct {
		line, text string
		want       []string
		err        string
	}{
		{"~SEQ(I, 0, 3) t", "t", []string{"0", "1", "2", "3"}, ""},
		{"~SEQ(I,3)x", "x", []string{"1", "2", "3"}, ""},
		{"~SEQ(I, 0) t", "t", []string{"1", "0"}, ""},
		{"~SEQ(I, -2) t", "t", []string{"-1", "-2"}, ""},
		{"~SEQ(I, 3, 1) t", "t", []string{"3", "2", "1"}, ""},
		{"~SEQ(I, 1, 2, 6) t", "t", []string{"1", "3", "5"}, ""},
		{"~SEQ(I, 2, 2) t", "t", []string{"2"}, ""},
		{"~SEQx(I, 0xfe, 0x101) t", "t", []string{"fe", "ff", "100", "101"}, ""},
		{"~SEQ(I, 010, 011) t", "t", []string{"8", "9"}, ""},
		{"~SEQ(I, 1, 0, 3) t", "", nil, "step 0"},
		{"~SEQ(I, 1, -1, 3) t", "", nil, "never goes"},
		{"~SEQx(I, -1, 2) t", "", nil, "non-negative"},
		{"~SEQ I, 1) t", "", nil, "'('"},
		{"~SEQ(I 1, 2) t", "", nil, "','"},
		{"~SEQ(I, 1, 2 t", "", nil, "missing ')'"},
		{"~SEQ(I, 1, 2, 3, 4) t", "", nil, "invalid numbers"},
		{"~SEQ(I, 1 2) t", "", nil, "invalid numbers"},
		{"~SEQ(I, 99999999999999999999) t", "", nil, "out of range"},
	}
	for _, tt := range tests {
		s, err := ppParseSeq(tt.line, id)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ppParseSeq(%q) error = %v, want one containing %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ppParseSeq(%q): %v", tt.line, err)
			continue
		}
		if got := seqValues(s); !reflect.DeepEqual(got, tt.want) || s.text != tt.text || s.vars[0] != "I" {
			t.Errorf("ppParseSeq(%q) = %v %q %v; want %v %q", tt.line, got, s.text, s.vars, tt.want, tt.text)
		}
	}
	// Parameters are replaced in the numbers.
	s, err := ppParseSeq("~SEQ(I, 1, $MAX) t", func(string) string { return " 1, 2)" })
	if err != nil || !reflect.DeepEqual(seqValues(s), []string{"1", "2"}) {
		t.Errorf("substituted ~SEQ = %v, %v", s, err)
	}
}

func TestPPParseList(t *testing.T) {
	tests := []struct {
		line string
		vars []string
		want []string
		text string
		err  string
	}{
		{"~LST(A, 1, 2, 3) t $A", []string{"A"}, []string{"1", "2", "3"}, "t $A", ""},
		{"~LST({A, B}, {1,2}, {3}, {,4}) t", []string{"A", "B"}, []string{"1/2", "3/", "/4"}, "t", ""},
		{"~LST(A, x)t", []string{"A"}, []string{"x"}, "t", ""},
		{"~LST({A,B}, {1,2,3}) t", nil, nil, "", "3 values for 2"},
		{"~LST(A 1) t", nil, nil, "", "','"},
		{"~LST A, 1) t", nil, nil, "", "'('"},
		{"~LST(A, 1 t", nil, nil, "", ""},
		{"~LST({,B}, {1,2}) t", nil, nil, "", "empty variable"},
	}
	for _, tt := range tests {
		s, err := ppParseList(tt.line)
		if tt.vars == nil {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ppParseList(%q) error = %v, want one containing %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ppParseList(%q): %v", tt.line, err)
			continue
		}
		if got := seqValues(s); !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(s.vars, tt.vars) || s.text != tt.text {
			t.Errorf("ppParseList(%q) = %v %v %q; want %v %v %q", tt.line, s.vars, got, s.text, tt.vars, tt.want, tt.text)
		}
	}
}

func TestPPIncludeLine(t *testing.T) {
	tests := []struct {
		line, pattern string
		checks        int
		ok            bool
	}{
		{"include a.conf", "a.conf", 0, true},
		{"include\t  x y", "x y", 0, true},
		{"includer a", "a", ppIncRead, true},
		{"includem a", "a", ppIncRead | ppIncMatch, true},
		{"includew a", "a", ppIncRead | ppIncMatch | ppIncWildcard, true},
		{"includeb a", "a", ppIncRead | ppIncBrace, true},
		{"includea a", "a", ppIncAll, true},
		{"include", "", 0, false},
		{"includex a", "", 0, false},
		{"include_check", "", 0, false},
		{"included a", "", 0, false},
	}
	for _, tt := range tests {
		p, c, ok := ppIncludeLine(tt.line)
		if p != tt.pattern || c != tt.checks || ok != tt.ok {
			t.Errorf("ppIncludeLine(%q) = %q, %d, %v; want %q, %d, %v", tt.line, p, c, ok, tt.pattern, tt.checks, tt.ok)
		}
	}
}

func TestPPIncludeCheck(t *testing.T) {
	tests := []struct {
		cur      int
		args     []string
		want     int
		problems int
	}{
		{0, nil, ppIncAll, 0},
		{0, []string{"match"}, ppIncRead | ppIncMatch, 0},
		{ppIncAll, []string{"-read", "-brace_match"}, ppIncMatch | ppIncWildcard, 0},
		{0, []string{"wildcard_match", "+brace_match"}, ppIncRead | ppIncWildcard | ppIncBrace, 0},
		{0, []string{"read", "match"}, ppIncRead, 1},
		{0, []string{"readable"}, 0, 1},
		{0, []string{"+nope"}, 0, 1},
	}
	for _, tt := range tests {
		got, problems := ppIncludeCheck(tt.cur, tt.args)
		if got != tt.want || len(problems) != tt.problems {
			t.Errorf("ppIncludeCheck(%d, %q) = %d, %q; want %d with %d problem(s)", tt.cur, tt.args, got, problems, tt.want, tt.problems)
		}
	}
}

func TestReadExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x{a,b{c,d}}y", []string{"xay", "xbcy", "xbdy"}},
		{"{a}", []string{"a"}},
		{"{a,}z", []string{"az", "z"}},
		{"open{a,b", []string{"open{a,b"}},
		{`\{a,b}`, []string{`\{a,b}`}},
		{"{a,b}{c,d}", []string{"ac", "ad", "bc", "bd"}},
	}
	for _, tt := range tests {
		got, err := readExpandBraces(tt.in, 100)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("readExpandBraces(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := readExpandBraces("{a,b}{a,b}{a,b}{a,b}", 10); err == nil {
		t.Errorf("brace expansion beyond the limit was not refused")
	}
}
