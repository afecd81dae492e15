package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// docs/COMPATIBILITY.md is generated from the parser's keyword tables by
// TestCompatibilityDoc (go test ./internal/config -run TestCompatibilityDoc
// -update rewrites it), so a keyword added to a table without a line in the
// document fails the test. TestWarnsNameKeyword proves the "warns" column:
// a configuration using such a keyword really gets a warning naming it.

// Statuses, as docs/COMPATIBILITY.md spells them.
const (
	statusActs     = "acts"
	statusWarns    = "parsed, warns: not supported yet"
	statusRejected = "rejected"
)

// perKeywordBlocks are the blocks where each keyword is judged on its own;
// in every other block the keyword that opens the block is what warns.
var perKeywordBlocks = []string{"top", "global_defs", "vrrp_instance", "authentication", "vrrp_script", "track_file", "vrrp_track_process", "vrrp_sync_group", "garp_group"}

// vrrpNotes explain the acting keywords whose behaviour needs a word.
var vrrpNotes = map[string]string{
	"top include":                                 "read by the front end, with glob patterns and include_check",
	"global_defs include_check":                   "applied by the front end to every include",
	"global_defs vrrp_rt_priority":                "without it (and without vrrp_priority) Vigil uses SCHED_RR priority 1; keepalived uses none",
	"global_defs vrrp_priority":                   "also how to keep Vigil off real-time scheduling (vrrp_priority 0)",
	"global_defs vigil_metrics_listen":            "Vigil's own extension: serves Prometheus metrics on host:port (under -C too, the LVS side's traffic counters included); none when absent",
	"global_defs vigil_strict":                    "Vigil's own extension: the daemon refuses a file with mistakes keepalived runs past (unknown keywords), as --strict",
	"global_defs lvs_flush":                       "flushes the whole table, services Vigil does not own included, at every start of the LVS process (a restart after a crash too, instead of adopting)",
	"global_defs lvs_flush_on_stop":               "unset: each real server, then each service Vigil owns; VS: each service Vigil owns; no argument: the whole table",
	"global_defs lvs_flush_onstop":                "as lvs_flush_on_stop",
	"global_defs lvs_sync_daemon":                 "with an instance: master while it is MASTER, backup otherwise (BACKUP, FAULT, or before the first state is known), switched on each transition as keepalived's VRRP process does; without: both roles, as keepalived's checker process; under -C with an instance: none, as keepalived 2.2.7, whose checker process leaves that daemon to the VRRP process -C does not run; run by the LVS process, so only with virtual servers and not under -P, where keepalived's VRRP process runs it anyway",
	"global_defs vrrp_min_garp":                   "one gratuitous ARP/NA on becoming master, no second burst",
	"vrrp_instance accept":                        "the default unless strict mode",
	"vrrp_instance no_accept":                     "a master drops traffic to its VIPs (nftables table inet vigil), as keepalived",
	"vrrp_instance authentication":                "PASS and AH (IPsec AH, HMAC-MD5-96, interoperable with keepalived)",
	"vrrp_instance state":                         "initial state; priority 255 starts as master",
	"vrrp_instance native_ipv6":                   "chooses IPv6 for an instance with no address to tell",
	"vrrp_instance lvs_sync_daemon_interface":     "deprecated; stored as global_defs lvs_sync_daemon",
	"global_defs vrrp_mcast_group4":               "default group of instances without mcast_dst_ip",
	"global_defs vrrp_mcast_group6":               "default group of instances without mcast_dst_ip",
	"global_defs vrrp_version":                    "default for instances without version; IPv6 instances use 3",
	"global_defs vrrp_strict":                     "its configuration checks and defaults apply; the receive-side checks do not",
	"vrrp_instance strict_mode":                   "its configuration checks and defaults apply; the receive-side checks do not",
	"authentication auth_type":                    "PASS and AH (IPsec AH, HMAC-MD5-96, interoperable with keepalived)",
	"vrrp_sync_group group":                       "the members change state together, as keepalived's",
	"vrrp_sync_group track_interface":             "applied to every member by the trackers",
	"vrrp_sync_group track_script":                "applied to every member by the trackers",
	"vrrp_sync_group track_file":                  "applied to every member by the trackers",
	"vrrp_sync_group track_process":               "applied to every member by the trackers",
	"vrrp_sync_group sync_group_tracking_weight":  "applied to every member by the trackers",
	"vrrp_instance notify_master_rx_lower_pri":    "the event is not raised yet",
	"vrrp_instance track_bfd":                     "no BFD",
	"global_defs vrrp_garp_master_refresh_repeat": "",
	"global_defs vrrp_garp_interval":              "least time between gratuitous ARPs on each interface, across all instances; a VMAC counts as its lower interface",
	"global_defs vrrp_gna_interval":               "least time between unsolicited NAs on each interface, across all instances; a VMAC counts as its lower interface",
	"top garp_group":                              "overrides the global intervals for its interfaces; the first group naming an interface wins; a group with no interval has no effect",
	"top net_namespace":                           "the daemon runs in that network namespace (-s overrides it) and its runtime files are under /run/vigil/NAME (docs/OPERATIONS.md)",
	"top instance":                                "names the runtime files, as keepalived's pid files: vigil_NAME.pid, vigil_NAME.sock, ... (docs/OPERATIONS.md)",
	"top use_pid_dir":                             "the default pid files go in /run/vigil/ (vigil.pid, vrrp.pid, checkers.pid)",
	"garp_group interfaces":                       "one timer shared by all the listed interfaces",
}

// compatRow is one line of the document.
type compatRow struct {
	block, keyword, status, note string
}

// lvsCompat reads testdata/compat_lvs.txt, the LVS side's own listing with
// notes: "block keyword status [note]".
func lvsCompat(t *testing.T) map[string]compatRow {
	f, err := os.Open(filepath.Join("testdata", "compat_lvs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]compatRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		r := compatRow{block: fields[0], keyword: fields[1], note: strings.Join(fields[3:], " ")}
		switch fields[2] {
		case "rejected":
			r.status = statusRejected
		case "acts":
			r.status = statusActs
		case "warns":
			r.status = statusWarns
		default:
			t.Errorf("compat_lvs.txt: %s %s: unknown status %q", r.block, r.keyword, fields[2])
		}
		rows[r.block+" "+r.keyword] = r
	}
	return rows
}

// vrrpStatus classifies a VRRP-side keyword.
func vrrpStatus(block, name string, h handler) string {
	per := false
	for _, b := range perKeywordBlocks {
		per = per || b == block
	}
	if per && acting[block][name] {
		return statusActs
	}
	if vrrpCompatStatus(block, name, h) == "rejected" {
		return statusRejected
	}
	return statusWarns
}

// compatRows builds every row of the document from the tables.
func compatRows(t *testing.T) []compatRow {
	var rows []compatRow
	seen := map[string]bool{}
	for _, tb := range vrrpCompatTables() {
		for name, h := range tb.kw {
			if tb.block == "top" && (name == "virtual_server" || name == "virtual_server_group" || name == "SSL") {
				continue // listed with the LVS side
			}
			r := compatRow{block: tb.block, keyword: name, status: vrrpStatus(tb.block, name, h), note: vrrpNotes[tb.block+" "+name]}
			if r.note == "" && r.status == statusWarns {
				r.note = notActingWhy[name]
			}
			if r.note == "" && r.status == statusWarns && !contains(perKeywordBlocks, tb.block) {
				r.note = "stored; the enclosing " + tb.block + " block warns"
			}
			rows = append(rows, r)
			seen[tb.block+" "+name] = true
		}
	}
	rows = append(rows, compatRow{block: "top", keyword: "include", status: statusActs, note: vrrpNotes["top include"]})
	lvs := lvsCompat(t)
	for key, r := range lvs {
		if !seen[key] {
			rows = append(rows, r)
		}
	}
	// Every keyword of the LVS tables must have a row.
	tables := compatTables()
	tables["top"] = keywords{"virtual_server_group": nil, "virtual_server": nil, "SSL": nil}
	for block, kw := range tables {
		for k := range kw {
			if _, ok := lvs[block+" "+k]; !ok {
				t.Errorf("compat_lvs.txt has no line for %s %s", block, k)
			}
		}
	}
	blockOrder := map[string]int{}
	for i, b := range []string{"top", "global_defs", "vrrp_instance", "authentication", "vrrp_script", "track_file",
		"vrrp_track_process", "vrrp_sync_group", "garp_group", "virtual_server_group", "virtual_server", "real_server"} {
		blockOrder[b] = i + 1
	}
	sort.Slice(rows, func(i, j int) bool {
		oi, oj := blockOrder[rows[i].block], blockOrder[rows[j].block]
		if oi == 0 {
			oi = 100
		}
		if oj == 0 {
			oj = 100
		}
		if oi != oj {
			return oi < oj
		}
		if rows[i].block != rows[j].block {
			return rows[i].block < rows[j].block
		}
		return rows[i].keyword < rows[j].keyword
	})
	return rows
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const compatIntro = `# Compatibility with keepalived.conf

Vigil reads an unmodified keepalived.conf (keepalived 2.2.7, ` + "`man 5 keepalived.conf`" + `).
Every keyword it knows is listed below, by block, with what Vigil does with it:

- **acts**: Vigil does what keepalived does.
- **parsed, warns: not supported yet**: the keyword is checked (a bad value is an error, as
  in keepalived) and stored in the model, but nothing acts on it yet; loading the file
  reports a warning with its file:line, and the reason when there is one. Inside a block
  whose opening keyword warns (bfd_instance, ...), the warning names that block.
- **rejected**: an error with file:line under ` + "`vigil -t`" + `, for the reason given.

A keyword that is in no table below is an unknown keyword: an error with file:line and the
closest known keyword as a suggestion, as keepalived reports it. ` + "`vigil -t`" + ` rejects the
file, as ` + "`keepalived -t`" + ` does; the daemon, like keepalived, starts without that line and
says so loudly (docs/OPERATIONS.md, "Mistakes the daemon runs past"), unless ` + "`--strict`" + ` or
` + "`global_defs { vigil_strict }`" + ` asks it to refuse the file.
`

// compatFeatures are the features the introduction names, each tied to the
// row whose status decides whether it is said to act or not yet: the prose
// is generated from the same tables as the rows, so it cannot contradict
// them.
var compatFeatures = []struct{ name, block, keyword string }{
	{"the VRRP state machine with its timers, priorities and preemption; VRRPv2 and v3 adverts over multicast or unicast", "top", "vrrp_instance"},
	{"PASS and IPsec AH authentication", "vrrp_instance", "authentication"},
	{"virtual addresses (with dev, label, scope, broadcast) and gratuitous ARP / unsolicited NA on becoming master", "vrrp_instance", "virtual_ipaddress"},
	{"sync groups, whose members change state together", "vrrp_sync_group", "group"},
	{"VMACs", "vrrp_instance", "use_vmac"},
	{"virtual routes and rules", "vrrp_instance", "virtual_routes"},
	{"static addresses, routes and rules", "top", "static_routes"},
	{"tracking: vrrp_script, track_file, vrrp_track_process, track_interface", "top", "vrrp_script"},
	{"notification: notify scripts, FIFOs, SMTP alerts", "vrrp_instance", "notify"},
	{"strict mode's configuration checks and its filter of traffic to the VIPs", "vrrp_instance", "strict_mode"},
	{"real-time scheduling of the VRRP side", "global_defs", "vrrp_rt_priority"},
	{"the load-balancing side: virtual_server and its checkers", "top", "virtual_server"},
	{"BFD", "top", "bfd_instance"},
	{"network namespaces", "top", "net_namespace"},
	{"SNMP", "global_defs", "enable_snmp_vrrp"},
	{"D-Bus", "global_defs", "enable_dbus"},
}

// compatSummary is the introduction's account of what acts, built from the
// rows named by compatFeatures.
func compatSummary(t *testing.T, rows []compatRow) string {
	status := map[string]string{}
	for _, r := range rows {
		status[r.block+" "+r.keyword] = r.status
	}
	var acts, warns []string
	for _, f := range compatFeatures {
		item := fmt.Sprintf("%s (row `%s` in %s)", f.name, f.keyword, blockTitle(f.block))
		switch status[f.block+" "+f.keyword] {
		case statusActs:
			acts = append(acts, item)
		case statusWarns:
			warns = append(warns, item)
		default:
			t.Errorf("compatFeatures: %s %s has no row that acts or warns", f.block, f.keyword)
		}
	}
	var b strings.Builder
	b.WriteString("\nWhat acts today (each item follows the status of the row it names):\n\n")
	for _, f := range acts {
		b.WriteString("- " + f + "\n")
	}
	b.WriteString("\nParsed and checked, but not acted on yet (each use warns with its file:line):\n\n")
	for _, f := range warns {
		b.WriteString("- " + f + "\n")
	}
	b.WriteString(`
The LVS keywords act on every data plane (` + "`--dataplane`" + `) that can express them; a virtual
server a plane cannot express is refused at start with its file:line and a suggestion, never
approximated. The nftables plane serves lb_kind NAT and DR (DR: address virtual servers whose real
servers are on a directly connected Ethernet network) with the schedulers rr, wrr, sh, dh, mh and
fo, and lc, wlc, sed and nq from conntrack's counts (NAT address virtual servers); it refuses
lb_kind TUN and the schedulers lblc, lblcr and ovf. docs/OPERATIONS.md ("The nftables plane") says
how it differs from IPVS.
`)
	b.WriteString(`
This file is generated from the parser's keyword tables (internal/config): run
` + "`go test ./internal/config -run TestCompatibilityDoc -update`" + ` after changing a table or
what the daemon acts on (internal/config/support.go). TestCompatibilityDocMatchesLoad loads
every keyword of the blocks judged keyword by keyword, as ` + "`vigil -t`" + ` does, and fails when
this document says otherwise.
`)
	return b.String()
}

// blockTitle is how the document heads a block's table.
func blockTitle(block string) string {
	if block == "top" {
		return "Top level"
	}
	return "`" + block + "`"
}

// renderCompat renders the document.
func renderCompat(t *testing.T, rows []compatRow) string {
	var b strings.Builder
	b.WriteString(compatIntro)
	b.WriteString(compatSummary(t, rows))
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.status]++
	}
	fmt.Fprintf(&b, "\nTotals: %d keywords; %d acts, %d parsed and warn, %d rejected.\n",
		len(rows), counts[statusActs], counts[statusWarns], counts[statusRejected])
	block := ""
	for _, r := range rows {
		if r.block != block {
			block = r.block
			title := blockTitle(block)
			fmt.Fprintf(&b, "\n## %s\n\n| keyword | status | note |\n|---|---|---|\n", title)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.keyword, r.status, r.note)
	}
	return b.String()
}

// compatHandWritten is the line after which docs/COMPATIBILITY.md is
// written by hand.
const compatHandWritten = "\n<!-- Written by hand below this line: TestCompatibilityDoc keeps it as it is. -->\n"

// TestCompatibilityDoc keeps docs/COMPATIBILITY.md equal to what the
// tables say; a keyword missing from the document fails it.
func TestCompatibilityDoc(t *testing.T) {
	rows := compatRows(t)
	for _, r := range rows {
		// A note must not take back what the status says.
		if r.status == statusActs && (strings.Contains(r.note, "warn") || strings.Contains(r.note, " yet")) {
			t.Errorf("%s %s acts, but its note says otherwise: %q", r.block, r.keyword, r.note)
		}
	}
	got := renderCompat(t, rows)
	path := filepath.Join("..", "..", "docs", "COMPATIBILITY.md")
	file, err := os.ReadFile(path)
	if err != nil && !(*update && os.IsNotExist(err)) {
		t.Fatal(err)
	}
	// What follows the marker is written by hand (the data planes'
	// conformance table): kept as it is, never compared.
	want, handWritten, _ := strings.Cut(string(file), compatHandWritten)
	if *update {
		out := got
		if handWritten != "" {
			out += compatHandWritten + handWritten
		}
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is out of date (first difference at line %d):\n got: %s\nwant: %s\nrun: go test ./internal/config -run TestCompatibilityDoc -update", path, i+1, g, w)
			}
		}
	}
	for _, tb := range vrrpCompatTables() {
		for name := range tb.kw {
			if !strings.Contains(want, "| `"+name+"` |") {
				t.Errorf("%s does not list %s %s", path, tb.block, name)
			}
		}
	}
}

// warnCandidates are argument lists and blocks tried on a keyword until one
// is accepted without an error; a usable form of every keyword is among
// them or in warnExamples.
var (
	warnArgs = [][]string{nil, {"1"}, {"eth0"}, {"10.0.0.1"}, {"/bin/true"}, {"X"}, {"RS"}, {"MTU"},
		{"tcp", "10"}, {"eth0", "1"}, {"0022"}, {"224.0.0.18"}, {"ff02::12"}, {"root"}, {"1", "2"}, {"3"},
		{"MASTER"}, {"PASS"}, {"10.0.0.1", "80"}, {"initial"}, {"127.0.0.1:9165"}}
	warnBlocks = [][]*Node{nil, {}, {{Name: "eth0"}}, {{Name: "10.0.0.1/24"}}, {{Name: "VI_1"}},
		{{Name: "script", Args: []string{"/bin/true"}}}, {{Name: "file", Args: []string{"/tmp/x"}}},
		{{Name: "process", Args: []string{"sshd"}}}, {{Name: "interface", Args: []string{"eth0"}}},
		{{Name: "neighbor_ip", Args: []string{"10.0.0.1"}}}, {{Name: "from", Args: []string{"10.0.0.0/8", "table", "1"}}},
		{{Name: "group", HasBlock: true, Block: []*Node{{Name: "VI_1"}}}}, {{Name: "a@b"}}, {{Name: "10.1.0.0/16", Args: []string{"via", "10.0.0.1"}}},
		{{Name: "auth_type", Args: []string{"PASS"}}, {Name: "auth_pass", Args: []string{"x"}}},
		{{Name: "lb_algo", Args: []string{"rr"}}, {Name: "lb_kind", Args: []string{"NAT"}}, {Name: "protocol", Args: []string{"TCP"}},
			{Name: "real_server", Args: []string{"10.0.0.2", "80"}, HasBlock: true}}}
)

// warnRun walks one node in block and returns the diagnostics.
func warnRun(block string, n *Node) Diagnostics {
	p := &parser{cfg: newConfig()}
	switch block {
	case "top":
		p.walk([]*Node{n}, topKeywords(), "")
	case "global_defs":
		p.walk([]*Node{n}, globalKeywords(&p.cfg.Global), "global_defs")
	case "vrrp_instance":
		p.walk([]*Node{n}, instanceKeywords(&VRRPInstance{Name: "VI", set: map[string]bool{}}), "vrrp_instance VI")
	case "authentication":
		p.walk([]*Node{n}, authKeywords(&Authentication{}), "authentication")
	case "vrrp_script":
		p.walk([]*Node{n}, scriptKeywords(&VRRPScript{}), "vrrp_script S")
	case "track_file":
		p.walk([]*Node{n}, trackFileKeywords(&TrackFile{}), "track_file F")
	case "vrrp_track_process":
		p.walk([]*Node{n}, trackProcessKeywords(&TrackProcess{}), "vrrp_track_process P")
	case "vrrp_sync_group":
		p.walk([]*Node{n}, syncGroupKeywords(&SyncGroup{}), "vrrp_sync_group G")
	case "garp_group":
		p.walk([]*Node{n}, garpGroupKeywords(&GarpGroup{}), "garp_group G")
	}
	return p.diags
}

// TestWarnsNameKeyword checks every keyword the document lists as "warns"
// in a block judged keyword by keyword: used in a form the parser accepts,
// it yields a warning at its line naming it. And every keyword listed as
// "acts" yields no "not supported" warning.
func TestWarnsNameKeyword(t *testing.T) {
	for _, r := range compatRows(t) {
		if !contains(perKeywordBlocks, r.block) || r.keyword == "include" {
			continue
		}
		var h handler
		for _, tb := range vrrpCompatTables() {
			if tb.block == r.block {
				h = tb.kw[r.keyword]
			}
		}
		if h == nil {
			t.Errorf("%s %s: not in the tables", r.block, r.keyword)
			continue
		}
		accepted := false
		for _, blk := range warnBlocks {
			for _, args := range warnArgs {
				n := &Node{Pos: Pos{File: "k.conf", Line: 7}, Name: r.keyword, Args: args, HasBlock: blk != nil, Block: blk}
				if blk != nil {
					n.EndPos = Pos{File: "k.conf", Line: 9}
				}
				diags := warnRun(r.block, n)
				if diags.HasErrors() {
					continue
				}
				accepted = true
				warned := false
				for _, d := range diags {
					if d.Severity == Warning && d.Pos.Line == 7 && strings.Contains(d.Msg, r.keyword) && strings.Contains(d.Msg, notSupportedPhrase) {
						warned = true
					}
				}
				switch {
				case r.status == statusWarns && !warned:
					t.Errorf("%s %s is listed as warning, but %q gives no warning naming it: %v", r.block, r.keyword, strings.Join(append([]string{r.keyword}, args...), " "), diags)
				case r.status == statusActs && warned && r.keyword != "authentication" && r.keyword != "auth_type":
					t.Errorf("%s %s is listed as acting, but warns: %v", r.block, r.keyword, diags)
				}
				break
			}
			if accepted {
				break
			}
		}
		if !accepted && r.status != statusRejected {
			t.Errorf("%s %s: no candidate form is accepted; add one to warnArgs/warnBlocks", r.block, r.keyword)
		}
	}
	// The blocks judged as a whole: their opening keyword warns.
	for _, tb := range vrrpCompatTables() {
		if contains(perKeywordBlocks, tb.block) {
			continue
		}
		if acting["top"][tb.block] {
			t.Errorf("block %s is judged as a whole but its keyword acts; list its keywords in perKeywordBlocks", tb.block)
		}
	}
	// The LVS blocks' keywords are checked one by one by
	// TestLVSCompatMatchesLoad.
}
