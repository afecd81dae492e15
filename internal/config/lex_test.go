package config

import (
	"reflect"
	"testing"
)

func TestLexDecomment(t *testing.T) {
	tests := []struct {
		in, want string
		open     bool
	}{
		{"   a b   ", "a b", false},
		{"# all comment", "", false},
		{"! all comment", "", false},
		{"a # c", "a", false},
		{"a!c", "a", false},
		{`a "b # c" # d`, `a "b # c"`, false},
		{`a "b ! c"`, `a "b ! c"`, false},
		{`a \# b \! c`, `a # b ! c`, false},
		{`a "\# kept"`, `a "\# kept"`, false},
		{`a 'b # c'`, `a 'b`, false},
		{`a \`, `a\`, false},
		{"a \t\\", `a\`, false},
		{`a # comment \`, `a\`, false},
		{`a "open`, `a "open`, true},
		{`a \" b`, `a \" b`, false},
	}
	for _, tt := range tests {
		got, open := lexDecomment(tt.in)
		if got != tt.want || open != tt.open {
			t.Errorf("lexDecomment(%q) = %q, %v; want %q, %v", tt.in, got, open, tt.want, tt.open)
		}
	}
}

func TestLexSplitBrace(t *testing.T) {
	tests := []struct{ in, head, rest string }{
		{"a b", "a b", ""},
		{"a {", "a", "{"},
		{"{", "{", ""},
		{"{  b c }", "{", "b c }"},
		{"}", "}", ""},
		{"} x", "}", "x"},
		{"b c }", "b c", "}"},
		{`a "{" {`, `a "{"`, "{"},
		{`a "open {`, `a "open {`, ""},
		{"a{b", "a", "{b"},
	}
	for _, tt := range tests {
		h, r := lexSplitBrace(tt.in)
		if h != tt.head || r != tt.rest {
			t.Errorf("lexSplitBrace(%q) = %q, %q; want %q, %q", tt.in, h, r, tt.head, tt.rest)
		}
	}
}

func TestLexWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"a  b\tc", []string{"a", "b", "c"}, nil},
		{`"a b" c`, []string{"a b", "c"}, nil},
		{`'a "b" c'`, []string{`a "b" c`}, nil},
		{`x"a b"y`, []string{"xa by"}, nil},
		{`"" ''`, []string{"", ""}, nil},
		{`\a\b\E\f\n\r\t\v`, []string{"\a\b\x1b\f\n\r\t\v"}, nil},
		{`\101\60x \x41\x4a4 \cA\c[`, []string{"A0x", "AJ4"[:1] + "\xa4", "\x01\x1b"}, nil},
		{`\x \q \\ \"`, []string{"x", "q", `\`, `"`}, nil},
		{`"a \" b"`, []string{`a " b`}, nil},
		{`\777`, []string{"\xff"}, nil},
		{`a "b`, []string{"a", "b"}, errLexOpenDouble},
		{`a 'b`, []string{"a", "b"}, errLexOpenSingle},
		{`a \`, []string{"a", ""}, errLexTrailingBackslash},
		{"", nil, nil},
	}
	for _, tt := range tests {
		got, err := lexWords(tt.in)
		if !reflect.DeepEqual(got, tt.want) || err != tt.err {
			t.Errorf("lexWords(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestLexStrtol(t *testing.T) {
	tests := []struct {
		in       string
		v        int64
		rest     string
		overflow bool
	}{
		{"12,", 12, ",", false},
		{"  -7)", -7, ")", false},
		{"0x1f)", 31, ")", false},
		{"0X1F", 31, "", false},
		{"017", 15, "", false},
		{"08", 0, "8", false},
		{"0x", 0, "x", false},
		{"abc", 0, "abc", false},
		{"", 0, "", false},
		{"9223372036854775807", 9223372036854775807, "", false},
		{"9223372036854775808", 9223372036854775807, "", true},
		{"-9223372036854775808", -9223372036854775808, "", false},
		{"-99999999999999999999", -9223372036854775808, "", true},
	}
	for _, tt := range tests {
		v, rest, of := lexStrtol(tt.in)
		if v != tt.v || rest != tt.rest || of != tt.overflow {
			t.Errorf("lexStrtol(%q) = %d, %q, %v; want %d, %q, %v", tt.in, v, rest, of, tt.v, tt.rest, tt.overflow)
		}
	}
}
