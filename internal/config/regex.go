package config

import (
	"fmt"
	"regexp"
	"strings"
)

// keepalived compiles url regexes with PCRE2; Vigil uses Go's regexp (RE2
// syntax, linear time, no backtracking). The option names of
// regex_options map to Go flags where Go has them; the others either make
// no difference to what a pattern matches in Go, or have no Go
// counterpart, and a pattern using them is refused rather than matched
// differently.

// regexFlags maps the options Go has as inline flags.
var regexFlags = map[string]string{
	"caseless":  "i",
	"multiline": "m",
	"dotall":    "s",
	"ungreedy":  "U",
}

// regexNoEffect lists options that change nothing for a pattern Go
// accepts: Go matches UTF-8 already, has no auto-possessification or
// start-of-match optimisation to turn off, no callouts, no \C, and its $
// without multiline already matches only at the very end.
var regexNoEffect = map[string]bool{
	"utf": true, "never_utf": true, "never_ucp": true, "no_auto_capture": true,
	"no_auto_possess": true, "no_start_optimize": true, "no_dotstar_anchor": true,
	"never_backslash_c": true, "dupnames": true, "auto_callout": true, "dollar_endonly": true,
}

// GoRegex compiles the url's regex with its regex_options. It returns the
// options that have no effect in Go (to warn about), and an error for a
// pattern or option Go's engine lacks (lookaround, backreferences,
// possessive quantifiers, extended, firstline, ucp, ...).
func (u *URL) GoRegex() (*regexp.Regexp, []string, error) {
	var flags strings.Builder
	var noEffect []string
	for _, o := range u.RegexOptions {
		switch {
		case regexFlags[o] != "":
			if !strings.Contains(flags.String(), regexFlags[o]) {
				flags.WriteString(regexFlags[o])
			}
		case regexNoEffect[o]:
			noEffect = append(noEffect, o)
		default:
			return nil, nil, fmt.Errorf("regex_options %s is a PCRE2 option Vigil's regex engine (Go regexp, RE2 syntax) does not have", o)
		}
	}
	pat := u.Regex
	if flags.Len() > 0 {
		pat = "(?" + flags.String() + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, nil, fmt.Errorf("regex %q: not valid in Vigil's regex engine (Go regexp, RE2 syntax: no lookaround, backreferences, possessive quantifiers or atomic groups): %v", u.Regex, err)
	}
	return re, noEffect, nil
}

// SplitCommand splits a command line written as one string (misc_path) into
// its words, with the quoting rules of script lines.
func SplitCommand(s string) ([]string, error) { return splitCommand(s) }
