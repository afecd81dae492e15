package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLVSCompatMatchesLoad proves the LVS rows of docs/COMPATIBILITY.md
// (testdata/compat_lvs.txt) keyword by keyword: testdata/compat_lvs_all.conf
// uses every one of them, and loading it as `vigil -t` does must give a
// "not supported" warning naming the keyword at the line of each one listed
// as warning (or at the line of its enclosing block, when that block warns
// as a whole, as BFD_CHECK does), and none at the line of each one listed
// as acting.
func TestLVSCompatMatchesLoad(t *testing.T) {
	rows := lvsCompat(t)
	path := filepath.Join("testdata", "compat_lvs_all.conf")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, diags := Load(path, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("%s does not load: %v", path, diags)
	}
	warnedAt := map[int][]string{}
	for _, d := range diags {
		if d.Severity == Warning && strings.Contains(d.Msg, notSupportedPhrase) {
			warnedAt[d.Pos.Line] = append(warnedAt[d.Pos.Line], d.Msg)
		}
	}
	names := func(line int, kw string) bool {
		for _, m := range warnedAt[line] {
			if strings.HasPrefix(m, kw+" ") {
				return true
			}
		}
		return false
	}
	type opener struct {
		block, keyword string
		line           int
	}
	stack := []opener{{block: "top"}}
	seen := map[string]bool{}
	explained := map[int]bool{}
	for i, l := range strings.Split(string(text), "\n") {
		line := i + 1
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "}" {
			stack = stack[:len(stack)-1]
			continue
		}
		top := stack[len(stack)-1]
		block, kw := top.block, f[0]
		if block == "virtual_server_group" {
			switch {
			case kw == "fwmark":
			case strings.Contains(kw, "-") || strings.Contains(kw, "/"):
				kw = "RANGE"
			default:
				kw = "ADDRESS"
			}
		}
		enclosing := stack
		if f[len(f)-1] == "{" {
			inner := f[0]
			if top.block == "SMTP_CHECK" && inner == "host" {
				inner = "SMTP_CHECK.host"
			}
			stack = append(stack[:len(stack):len(stack)], opener{block: inner, keyword: kw, line: line})
		}
		key := block + " " + kw
		r, ok := rows[key]
		if !ok {
			// Not an LVS keyword (bfd_instance, track_file): the
			// tests of the per-keyword blocks cover it.
			explained[line] = true
			continue
		}
		seen[key] = true
		switch r.status {
		case statusActs:
			if len(warnedAt[line]) > 0 {
				t.Errorf("%s:%d: %s is listed as acting, but loading warns: %q", path, line, key, warnedAt[line])
			}
			explained[line] = true
		case statusWarns:
			ok := names(line, kw)
			for _, o := range enclosing {
				ok = ok || (o.line != 0 && names(o.line, o.keyword))
			}
			if !ok {
				t.Errorf("%s:%d: %s is listed as warning, but loading gives no warning naming it: %v", path, line, key, diags)
			}
			explained[line] = true
		case statusRejected:
			t.Errorf("%s:%d: %s is listed as rejected; it has no place in this file", path, line, key)
		}
	}
	for line, msgs := range warnedAt {
		if !explained[line] {
			t.Errorf("%s:%d: warning %q on a line whose keyword has no LVS row", path, line, msgs)
		}
	}
	for key, r := range rows {
		if r.status != statusRejected && !seen[key] {
			t.Errorf("%s does not use %s; add it", path, key)
		}
	}
}
