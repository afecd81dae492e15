package config

import (
	"bufio"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseAddrRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
		err         string
	}{
		{"10.0.0.1", "10.0.0.1", "10.0.0.1", ""},
		{"10.0.0.1-10", "10.0.0.1", "10.0.0.10", ""},
		{"10.0.0.250-10.0.1.10", "10.0.0.250", "10.0.1.10", ""},
		{"10.0.0.9/29", "10.0.0.8", "10.0.0.15", ""},
		{"10.0.0.1/32", "10.0.0.1", "10.0.0.1", ""},
		{"fd00::1-1f", "fd00::1", "fd00::1f", ""},
		{"fd00::100/126", "fd00::100", "fd00::103", ""},
		{"fd00::1-fd00::1:0", "fd00::1", "fd00::1:0", ""},
		{"10.0.0.10-1", "", "", "end must be greater"},
		{"10.0.0.1-1", "", "", "end must be greater"},
		{"10.0.0.1-256", "", "", "invalid range end"},
		{"10.0.0.1-fd00::1", "", "", "mixes IPv4 and IPv6"},
		{"10.0.0.300", "", "", "invalid address"},
		{"10.0.0.0/33", "", "", "invalid address prefix"},
		{"fe80::1%eth0", "", "", "invalid address"},
		{"fd00::1-g", "", "", "invalid range end"},
	}
	for _, tt := range tests {
		first, last, err := parseAddrRange(tt.in)
		if tt.err != "" {
			if !strings.Contains(err, tt.err) {
				t.Errorf("%s: error %q, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != "" || first != netip.MustParseAddr(tt.first) || last != netip.MustParseAddr(tt.last) {
			t.Errorf("%s: got %s-%s %q, want %s-%s", tt.in, first, last, err, tt.first, tt.last)
		}
	}
}

func TestParseHexWords(t *testing.T) {
	tests := []struct {
		words      string
		wild       bool
		data, mask string
		ok         bool
	}{
		{"Ab12f 3 456 546443123", false, "ab120f0345065464431203", "", true},
		{"00", false, "00", "", true},
		{"12xX ff", true, "1200ff", "ff00ff", true},
		{"x", true, "00", "f0", true},
		{"xx", true, "00", "00", true},
		{"12x", false, "", "", false},
		{"zz", false, "", "", false},
		{"", false, "", "", false},
	}
	for _, tt := range tests {
		data, mask, ok := parseHexWords(strings.Fields(tt.words), tt.wild)
		if ok != tt.ok {
			t.Errorf("%q: ok %v, want %v", tt.words, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		d, _ := data.MarshalText()
		m, _ := mask.MarshalText()
		if string(d) != tt.data || string(m) != tt.mask {
			t.Errorf("%q: got %s/%s, want %s/%s", tt.words, d, m, tt.data, tt.mask)
		}
	}
}

func TestForwarding(t *testing.T) {
	tests := []struct {
		args string
		want Forwarding
		err  string
	}{
		{"NAT", Forwarding{Method: FwdNAT}, ""},
		{"DR", Forwarding{Method: FwdDR}, ""},
		{"TUN", Forwarding{Method: FwdTUN}, ""},
		{"TUN type ipip", Forwarding{Method: FwdTUN}, ""},
		{"TUN type ipip nocsum", Forwarding{Method: FwdTUN}, ""},
		{"TUN type gue port 6080", Forwarding{Method: FwdTUN, TunnelType: TunGUE, TunnelPort: 6080}, ""},
		{"TUN type gue port 6080 remcsum", Forwarding{Method: FwdTUN, TunnelType: TunGUE, TunnelPort: 6080, TunnelChecksum: TunRemCsum}, ""},
		{"TUN type gre csum", Forwarding{Method: FwdTUN, TunnelType: TunGRE, TunnelChecksum: TunCsum}, ""},
		{"nat", Forwarding{}, "unknown forwarding method"},
		{"NAT type gre", Forwarding{}, "only apply to TUN"},
		{"TUN type", Forwarding{}, "missing tunnel type"},
		{"TUN type vxlan", Forwarding{}, "unknown tunnel type"},
		{"TUN type gue", Forwarding{}, "gue tunnel needs"},
		{"TUN port 5", Forwarding{}, "gue tunnel needs"},
		{"TUN type gue port 0", Forwarding{}, "invalid port"},
		{"TUN type gue port", Forwarding{}, "missing port"},
		{"TUN csum", Forwarding{}, "ipip tunnels have no checksum"},
		{"TUN type gre remcsum", Forwarding{}, "remcsum"},
		{"TUN bogus", Forwarding{}, "unknown tunnel option"},
	}
	for _, tt := range tests {
		p := &parser{cfg: &Config{}}
		got, ok := p.forwarding(&Node{Pos: Pos{File: "f", Line: 1}, Name: "lvs_method", Args: strings.Fields(tt.args)})
		if tt.err != "" {
			if ok || len(p.diags) != 1 || !strings.Contains(p.diags[0].Msg, tt.err) {
				t.Errorf("%q: got ok=%v %v, want error containing %q", tt.args, ok, p.diags, tt.err)
			}
			continue
		}
		if !ok || got != tt.want || len(p.diags) != 0 {
			t.Errorf("%q: got %+v ok=%v %v, want %+v", tt.args, got, ok, p.diags, tt.want)
		}
	}
}

func TestTimingOr(t *testing.T) {
	d := func(s time.Duration) *time.Duration { return &s }
	u := func(v uint32) *uint32 { return &v }
	vs := Timing{DelayLoop: d(10 * time.Second), Retry: u(3), Warmup: d(0)}
	rs := Timing{DelayLoop: d(5 * time.Second)}
	ck := Timing{Retry: u(0), ConnectTimeout: d(time.Second)}
	got := ck.Or(rs.Or(vs))
	if *got.DelayLoop != 5*time.Second || *got.Retry != 0 || *got.Warmup != 0 ||
		*got.ConnectTimeout != time.Second || got.DelayBeforeRetry != nil {
		t.Errorf("resolved timing %+v is wrong", got)
	}
}

// TestInheritedDefaults checks the values a real server takes from its
// virtual server when it sets none, and keeps when it does.
func TestInheritedDefaults(t *testing.T) {
	p, _ := parseLVSText(t, "k.conf", `virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  weight 7
  real_server 10.0.0.2 80 {
  }
  real_server 10.0.0.3 80 {
    weight 2
    lvs_method NAT
  }
}`)
	if p.diags.HasErrors() || len(p.cfg.VirtualServers) != 1 {
		t.Fatalf("unexpected result: %v", p.diags)
	}
	rs := p.cfg.VirtualServers[0].RealServers
	if rs[0].Weight != 7 || rs[0].Forwarding.Method != FwdDR {
		t.Errorf("rs0 = weight %d %s, want 7 DR (inherited)", rs[0].Weight, rs[0].Forwarding.Method)
	}
	if rs[1].Weight != 2 || rs[1].Forwarding.Method != FwdNAT {
		t.Errorf("rs1 = weight %d %s, want 2 NAT (own)", rs[1].Weight, rs[1].Forwarding.Method)
	}
}

// TestBadInputChangesNothing checks that a rejected value leaves the
// default in place rather than a half-parsed one.
func TestBadInputChangesNothing(t *testing.T) {
	tests := []struct {
		line  string
		check func(vs *VirtualServer) bool
	}{
		{"quorum 0", func(vs *VirtualServer) bool { return vs.Quorum == 1 }},
		{"weight 99999999999", func(vs *VirtualServer) bool { return vs.Weight == 1 }},
		{"lb_algo nope", func(vs *VirtualServer) bool { return vs.Scheduler == "" }},
		{"protocol ICMP", func(vs *VirtualServer) bool { return vs.Protocol == "" }},
		{"delay_loop -1", func(vs *VirtualServer) bool { return vs.DelayLoop == nil }},
		{"persistence_timeout 0", func(vs *VirtualServer) bool { return vs.PersistenceTimeout == 0 }},
		{"persistence_granularity 300", func(vs *VirtualServer) bool { return vs.PersistencePrefixLen == 0 && vs.PersistenceTimeout == 0 }},
		{"lb_kind TUN type gue", func(vs *VirtualServer) bool { return vs.Forwarding == Forwarding{} }},
		{"smtp_alert maybe", func(vs *VirtualServer) bool { return vs.SMTPAlert == nil }},
	}
	for _, tt := range tests {
		p := &parser{cfg: &Config{}}
		vs := &VirtualServer{Quorum: 1, Weight: 1}
		st := &vsState{vs: vs, schedFlagNodes: map[string]*Node{}}
		f := strings.Fields(tt.line)
		n := &Node{Pos: Pos{File: "k", Line: 3}, Name: f[0], Args: f[1:]}
		p.walk([]*Node{n}, vsKeywords(st), "virtual_server")
		if !p.diags.HasErrors() {
			t.Errorf("%q: no error", tt.line)
		}
		if p.diags[0].Pos.Line != 3 {
			t.Errorf("%q: error at line %d, want 3", tt.line, p.diags[0].Pos.Line)
		}
		if !tt.check(vs) {
			t.Errorf("%q: the model changed: %+v", tt.line, vs)
		}
	}
}

// compatTables lists every LVS block's keyword table with the block name
// used in compat_lvs.txt.
func compatTables() map[string]keywords {
	c := &Checker{}
	t := map[string]keywords{
		"virtual_server":  vsKeywords(nil),
		"real_server":     rsKeywords(nil),
		"url":             urlKeywords(nil),
		"SSL":             sslKeywords(nil),
		"SMTP_CHECK.host": commonCheckKeywords(c, true),
	}
	for kind, f := range checkerTables {
		t[string(kind)] = f(c)
	}
	t["SMTP_CHECK"]["host"] = nil
	return t
}

// TestCompatListMatchesTables keeps testdata/compat_lvs.txt in step with the
// keyword tables: every keyword handled is listed with a valid status, and
// nothing listed is unknown to the parser.
func TestCompatListMatchesTables(t *testing.T) {
	f, err := os.Open("testdata/compat_lvs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]string{}
	statuses := map[string]bool{"acts": true, "warns": true, "rejected": true}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || !statuses[fields[2]] {
			t.Errorf("malformed line %q (want: block keyword status [note])", line)
			continue
		}
		listed[fields[0]+" "+fields[1]] = fields[2]
	}
	tables := compatTables()
	tables["virtual_server_group"] = keywords{"ADDRESS": nil, "RANGE": nil, "fwmark": nil}
	tables["top"] = keywords{"virtual_server_group": nil, "virtual_server": nil, "SSL": nil}
	var missing []string
	for block, kw := range tables {
		for k := range kw {
			key := block + " " + k
			if _, ok := listed[key]; !ok {
				missing = append(missing, key)
			}
			delete(listed, key)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("compat_lvs.txt does not list %q", m)
	}
	// What is left is not in any table: only keywords Vigil rejects as
	// unknown (documented by keepalived but refused by 2.2.7) belong here.
	for key, status := range listed {
		if status != "rejected" {
			t.Errorf("compat_lvs.txt lists %q as %s, but no keyword table has it", key, status)
		}
	}
}

// FuzzLVSParse feeds arbitrary text through the test lexer and the LVS
// parser: whatever the input, parsing must not panic, and a config with
// errors must be reported, never half-applied silently.
func FuzzLVSParse(f *testing.F) {
	seeds, _ := os.ReadDir("testdata/golden")
	for _, s := range seeds {
		if !strings.HasPrefix(s.Name(), "lvs_") {
			continue
		}
		b, err := os.ReadFile("testdata/golden/" + s.Name())
		if err == nil {
			conf, _, _ := strings.Cut(string(b), wantSep)
			f.Add(conf)
		}
	}
	f.Add("virtual_server_group G {\n 10.0.0.1-5 80\n}\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, ok := parseLVSText(t, "fuzz.conf", text)
		if !ok {
			return
		}
		for _, d := range p.diags {
			if d.Pos.File != "fuzz.conf" || d.Pos.Line < 1 {
				t.Fatalf("diagnostic without a position: %v", d)
			}
		}
		_ = lvsOutput(p)
	})
}
