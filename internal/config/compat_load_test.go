package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompatibilityDocMatchesLoad reads docs/COMPATIBILITY.md as an operator
// reads it and runs every keyword of the blocks judged keyword by keyword
// through Load, the path `vigil -t` takes, in a file of its own: a keyword
// the document says "acts" must load without an error or a warning at its
// line (a deprecation notice aside); one it says "warns" must load with a
// warning at its line naming it; one it says "rejected" must be an error in
// every form tried. Blocks judged as a whole (virtual_server and what it
// holds) are covered by their opening keyword's row at the top level.
func TestCompatibilityDocMatchesLoad(t *testing.T) {
	rows := docRows(t, filepath.Join("..", "..", "docs", "COMPATIBILITY.md"))
	if len(rows) < 400 {
		t.Fatalf("read %d rows from the document; the table format changed?", len(rows))
	}
	dir := t.TempDir()
	checked := map[string]int{}
	for _, r := range rows {
		if !contains(perKeywordBlocks, r.block) {
			continue
		}
		if r.block == "top" && r.keyword == "include" {
			continue // a front-end directive, tested by the reader's tests
		}
		checked[r.block]++
		forms := loadForms(r.block, r.keyword)
		accepted := false
		for i, form := range forms {
			text, line := loadContext(r.block, r.keyword, form)
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.conf", r.block, r.keyword, i))
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := Load(path, LoadOptions{})
			if diags.HasErrors() {
				continue
			}
			accepted = true
			var warned, other []string
			for _, d := range diags {
				if d.Severity != Warning || d.Pos.Line != line || d.Pos.File != path {
					continue
				}
				if strings.Contains(d.Msg, "deprecated") {
					continue
				}
				if strings.Contains(d.Msg, r.keyword) && strings.Contains(d.Msg, notSupportedPhrase) {
					warned = append(warned, d.Msg)
				} else {
					other = append(other, d.Msg)
				}
			}
			switch r.status {
			case statusActs:
				if len(warned)+len(other) > 0 {
					t.Errorf("%s %s: the document says it acts, but -t warns: %q\n%s", r.block, r.keyword, append(warned, other...), text)
				}
			case statusWarns:
				if len(warned) == 0 {
					t.Errorf("%s %s: the document says it warns, but -t gives no warning naming it at line %d: %v\n%s", r.block, r.keyword, line, diags, text)
				}
			case statusRejected:
				t.Errorf("%s %s: the document says it is rejected, but -t accepts %q", r.block, r.keyword, form)
			default:
				t.Errorf("%s %s: unknown status %q in the document", r.block, r.keyword, r.status)
			}
			break
		}
		if !accepted && r.status != statusRejected {
			t.Errorf("%s %s: none of the %d forms tried loads without an error; add one to loadExamples", r.block, r.keyword, len(forms))
		}
	}
	for _, b := range perKeywordBlocks {
		if checked[b] == 0 {
			t.Errorf("the document has no rows for block %s", b)
		}
	}
}

// docRow is one row of docs/COMPATIBILITY.md as written there.
type docRow struct{ block, keyword, status string }

// docRows parses the document's tables: "## `block`" (or "## Top level")
// headings followed by "| `keyword` | status | note |" rows.
func docRows(t *testing.T, path string) []docRow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []docRow
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == strings.TrimSpace(compatHandWritten) {
			break // the hand-written part has no keyword tables
		}
		switch {
		case l == "## Top level":
			block = "top"
		case strings.HasPrefix(l, "## `"):
			block = strings.Trim(strings.TrimPrefix(l, "## "), "`")
		case strings.HasPrefix(l, "| `") && block != "":
			cells := strings.Split(l, "|")
			if len(cells) < 4 {
				t.Fatalf("bad row %q", l)
			}
			rows = append(rows, docRow{block: block, keyword: strings.Trim(strings.TrimSpace(cells[1]), "`"), status: strings.TrimSpace(cells[2])})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// loadExamples are forms of keywords that none of the generic candidates
// (warnArgs x warnBlocks) gets past validation, keyed "block keyword".
var loadExamples = map[string][]string{
	"top vrrp_instance":      {"vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n    virtual_ipaddress {\n        10.0.0.20/24\n    }\n}"},
	"top vrrp_sync_group":    {"vrrp_sync_group G2 {\n    group {\n        VI_1\n    }\n}"},
	"top vrrp_script":        {"vrrp_script S2 {\n    script /bin/true\n}"},
	"top track_file":         {"track_file F2 {\n    file /tmp/x\n}"},
	"top vrrp_track_file":    {"vrrp_track_file F2 {\n    file /tmp/x\n}"},
	"top vrrp_track_process": {"vrrp_track_process P2 {\n    process sshd\n}"},
	"top garp_group":         {"garp_group {\n    garp_interval 1\n    interface eth1\n}"},
	"top static_ipaddress":   {"static_ipaddress {\n    10.9.0.1/24 dev eth0\n}"},
	"top static_routes":      {"static_routes {\n    10.9.0.0/24 via 10.0.0.1\n}"},
	"top static_rules":       {"static_rules {\n    from 10.9.0.0/24 table 100\n}"},
	"top virtual_server": {"virtual_server 10.0.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n" +
		"    real_server 10.0.0.2 80 {\n        TCP_CHECK {\n        }\n    }\n}"},
}

// loadForms renders the candidate forms of a keyword: its examples first,
// then every generic candidate of TestWarnsNameKeyword.
func loadForms(block, kw string) []string {
	forms := append([]string(nil), loadExamples[block+" "+kw]...)
	for _, blk := range warnBlocks {
		for _, args := range warnArgs {
			n := &Node{Name: kw, Args: args, HasBlock: blk != nil, Block: blk}
			forms = append(forms, renderNode(n, ""))
		}
	}
	return forms
}

// renderNode writes n in keepalived.conf syntax.
func renderNode(n *Node, indent string) string {
	var b strings.Builder
	b.WriteString(indent + n.Name)
	for _, a := range n.Args {
		b.WriteString(" " + a)
	}
	if n.HasBlock {
		b.WriteString(" {\n")
		for _, c := range n.Block {
			b.WriteString(renderNode(c, indent+"    ") + "\n")
		}
		b.WriteString(indent + "}")
	}
	return b.String()
}

// loadBase is a valid file every keyword is tried in: one instance to hang
// references on, and one object of each named kind.
const loadBase = `vrrp_script S {
    script /bin/true
}
track_file F {
    file /tmp/x
}
vrrp_track_process P {
    process sshd
}
`

// loadContext returns a whole file with form placed in block, and the line
// form starts on. Items of the block's context that set the keyword under
// test are left out, so that a keyword is never set twice.
func loadContext(block, kw string, form string) (string, int) {
	inst := []string{"vrrp_instance VI_1 {", "    state BACKUP", "    interface eth0", "    virtual_router_id 51",
		"    priority 100", "    virtual_ipaddress {\n        10.0.0.10/24\n    }"}
	var open, closing []string
	switch block {
	case "global_defs":
		open, closing = []string{"global_defs {"}, []string{"}"}
	case "vrrp_instance":
		open, closing = inst, []string{"}"}
	case "authentication":
		open = append(append([]string(nil), inst...), "    authentication {", "    auth_type PASS", "    auth_pass secret")
		closing = []string{"    }", "}"}
	case "vrrp_script":
		open, closing = []string{"vrrp_script T {", "    script /bin/true"}, []string{"}"}
	case "track_file":
		open, closing = []string{"track_file G {", "    file /tmp/y"}, []string{"}"}
	case "vrrp_track_process":
		open, closing = []string{"vrrp_track_process Q {", "    process sshd"}, []string{"}"}
	case "vrrp_sync_group":
		open, closing = []string{"vrrp_sync_group G {", "    group {\n        VI_1\n    }"}, []string{"}"}
	case "garp_group":
		open, closing = []string{"garp_group {", "    interface eth0"}, []string{"}"}
	}
	var lines []string
	lines = append(lines, strings.Split(strings.TrimRight(loadBase, "\n"), "\n")...)
	if block != "vrrp_instance" && block != "authentication" {
		// Every other block needs the instance to exist (sync groups name
		// it), but must not be inside it.
		lines = append(append(lines, strings.Split(strings.Join(inst, "\n"), "\n")...), "}")
	}
	for i, item := range open {
		if f := strings.Fields(item); i > 0 && len(f) > 0 && f[0] == kw {
			continue // the form sets it
		}
		lines = append(lines, strings.Split(item, "\n")...)
	}
	line := len(lines) + 1
	lines = append(lines, strings.Split(form, "\n")...)
	lines = append(lines, closing...)
	return strings.Join(lines, "\n") + "\n", line
}

// TestCompatibilityDocRejectedAndAH covers the rows the per-keyword walk
// cannot reach: a "rejected" keyword inside the LVS blocks is an error at
// its line under -t in every place the document puts it; and AH, which the
// document says acts, loads without a warning.
func TestCompatibilityDocRejectedAndAH(t *testing.T) {
	rows := docRows(t, filepath.Join("..", "..", "docs", "COMPATIBILITY.md"))
	examples := map[string]string{
		"FILE_CHECK dynamic": "track_file F {\n    file /tmp/x\n}\nvirtual_server 10.0.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n" +
			"    real_server 10.0.0.2 80 {\n        FILE_CHECK {\n            track_file F\n            dynamic\n        }\n    }\n}\n",
	}
	for _, r := range rows {
		if r.status != statusRejected || contains(perKeywordBlocks, r.block) {
			continue
		}
		text, ok := examples[r.block+" "+r.keyword]
		if !ok {
			t.Errorf("%s %s is listed as rejected; add an example here", r.block, r.keyword)
			continue
		}
		line := 0
		for i, l := range strings.Split(text, "\n") {
			if strings.TrimSpace(l) == r.keyword {
				line = i + 1
			}
		}
		_, diags := LoadBytes("k.conf", []byte(text), LoadOptions{})
		found := false
		for _, d := range diags.Errors() {
			found = found || d.Pos.Line == line
		}
		if !found {
			t.Errorf("%s %s: the document says rejected, but -t gives no error at line %d: %v", r.block, r.keyword, line, diags)
		}
	}
	ah := "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    authentication {\n        auth_type AH\n        auth_pass secret\n    }\n" +
		"    virtual_ipaddress {\n        10.0.0.10/24\n    }\n}\n"
	_, diags := LoadBytes("k.conf", []byte(ah), LoadOptions{})
	if len(diags) != 0 {
		t.Errorf("auth_type AH: %v, want no diagnostic (the document says AH acts)", diags)
	}
}
