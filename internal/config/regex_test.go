package config

import (
	"strings"
	"testing"
)

func TestGoRegex(t *testing.T) {
	tests := []struct {
		regex    string
		options  []string
		body     string
		match    bool
		noEffect int
		err      string
	}{
		{regex: "ok", body: "all ok", match: true},
		{regex: "OK", options: []string{"caseless"}, body: "all ok", match: true},
		{regex: "^b$", options: []string{"multiline"}, body: "a\nb\nc", match: true},
		{regex: "a.b", options: []string{"dotall"}, body: "a\nb", match: true},
		{regex: "a.b", body: "a\nb", match: false},
		{regex: "ok", options: []string{"utf", "no_start_optimize"}, body: "ok", match: true, noEffect: 2},
		{regex: "ok", options: []string{"extended"}, err: "regex_options extended"},
		{regex: "foo(?=bar)", err: "not valid in Vigil's regex engine"},
		{regex: `(a)\1`, err: "not valid"},
		{regex: "a++", err: "not valid"},
	}
	for _, tc := range tests {
		u := &URL{Regex: tc.regex, RegexOptions: tc.options}
		re, ne, err := u.GoRegex()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %v: error %v, want one containing %q", tc.regex, tc.options, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %v: %v", tc.regex, tc.options, err)
			continue
		}
		if got := re.MatchString(tc.body); got != tc.match {
			t.Errorf("%q %v on %q: match %v, want %v", tc.regex, tc.options, tc.body, got, tc.match)
		}
		if len(ne) != tc.noEffect {
			t.Errorf("%q %v: no-effect options %v, want %d", tc.regex, tc.options, ne, tc.noEffect)
		}
	}
}

func TestRegexRejectedWithPosition(t *testing.T) {
	text := "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    regex \"a(?!b)\"\n   }\n  }\n }\n}\n"
	_, diags := LoadBytes("k.conf", []byte(text), LoadOptions{})
	if !diags.HasErrors() || !strings.Contains(diags.String(), "k.conf:4") || !strings.Contains(diags.String(), "not valid in Vigil's regex engine") {
		t.Errorf("diagnostics %v, want an error at k.conf:4 about the regex", diags)
	}
}
