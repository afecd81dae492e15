package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// fuzzLoadSeeds are small configurations touching every block the parser
// knows, so the fuzzer starts from inputs that reach deep into it.
var fuzzLoadSeeds = []string{
	"global_defs {\n router_id r1\n notification_email {\n a@b\n }\n smtp_server 10.0.0.1 25\n vrrp_mcast_group4 224.0.0.18\n vrrp_garp_master_delay 2\n lvs_sync_daemon eth0 VI_1 id 3\n lvs_timeouts tcp 10 udp 5\n umask 0022\n}\n",
	"static_ipaddress {\n 10.0.0.1/24 dev eth0 scope link\n}\nstatic_routes {\n 10.1.0.0/16 via 10.0.0.254 dev eth0 table 5\n}\nstatic_rules {\n from 10.0.0.0/8 table 5 preference 100\n}\n",
	"vrrp_script chk {\n script \"/bin/true arg\"\n interval 2\n weight -20\n rise 2\n fall 3\n}\ntrack_file tf {\n file /tmp/x\n weight 5\n init_file 0 overwrite\n}\nvrrp_track_process tp {\n process sshd -D\n quorum 1\n quorum_max 3\n delay 0.5\n}\n",
	"vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n notify /bin/true\n}\ngarp_group {\n garp_interval 1\n interfaces {\n eth0\n }\n}\n",
	"vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 150\n advert_int 1\n nopreempt\n authentication {\n auth_type PASS\n auth_pass secret\n }\n virtual_ipaddress {\n 10.0.0.100/24 dev eth0 label eth0:1\n }\n virtual_ipaddress_excluded {\n fd00::1/64\n }\n unicast_src_ip 10.0.0.1\n unicast_peer {\n 10.0.0.2 min_ttl 250\n }\n track_script {\n chk weight 10\n }\n track_interface {\n eth1 weight -5\n }\n virtual_routes {\n 0.0.0.0/0 via 10.0.0.254\n }\n virtual_rules {\n to 10.9.0.0/16 table 9 preference 9\n }\n notify_master \"/bin/echo up\"\n}\n",
	"vrrp_instance V6 {\n interface eth0\n virtual_router_id 6\n version 3\n advert_int 0.5\n use_vmac vrrp.6\n virtual_ipaddress {\n fd00::6/64\n }\n}\n",
	"virtual_server_group G {\n 10.0.0.1-9 80\n 10.1.0.0/30 443\n fwmark 7 inet\n}\nvirtual_server group G {\n lb_algo wrr\n lb_kind DR\n protocol TCP\n real_server 10.0.1.1 80 {\n weight 3\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n",
	"virtual_server 10.0.0.10 80 {\n delay_loop 6\n lb_algo rr\n lb_kind NAT\n persistence_timeout 300\n protocol TCP\n quorum 2\n hysteresis 1\n sorry_server 10.0.0.99 80\n real_server 10.0.0.21 80 {\n weight 1\n inhibit_on_failure\n HTTP_GET {\n url {\n path /health\n status_code 200-299\n digest 9b3a0c85a887a256d6939da88aabd8cd\n }\n connect_timeout 3\n retry 2\n delay_before_retry 1\n }\n }\n}\n",
	"SSL {\n password p\n ca /ca.pem\n}\nvirtual_server fwmark 5 {\n lb_algo sh\n lb_kind TUN\n protocol UDP\n real_server 10.0.0.21 53 {\n DNS_CHECK {\n type A\n name example.com\n }\n UDP_CHECK {\n payload 00ff\n require_reply 00ff\n }\n MISC_CHECK {\n misc_path \"/bin/true x\"\n misc_dynamic\n }\n SMTP_CHECK {\n helo_name h\n host {\n connect_ip 10.0.0.30\n }\n }\n SSL_GET {\n url {\n path /\n }\n }\n PING_CHECK {\n }\n FILE_CHECK {\n track_file tf\n }\n }\n}\ntrack_file tf {\n file /tmp/f\n}\n",
	"$IF=eth0\n@main $IF=eth1\n~SEQ(i,1,3) vrrp_instance VI_$i {\n interface $IF\n virtual_router_id $i\n virtual_ipaddress {\n 10.0.0.$i\n }\n}\ninclude inc.conf\n",
	"vrrp_instance X {\n interface eth0\n virtual_router_id 300\n priority 0\n state LEADER\n}\nvirtual_server 1.2.3.4 70000 {\n}\n",
}

// FuzzLoad feeds arbitrary text through the whole pipeline (read,
// preprocess, parse, validate). Whatever the input, Load must not panic,
// must finish quickly, must tie every diagnostic to a line of a file it
// read (or to no file, for a problem of the whole model), must give the
// same answer twice, and a configuration it accepts must hold the
// invariants the rest of Vigil relies on.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzLoadSeeds {
		f.Add([]byte(s))
	}
	// The golden and broken corpora are good starting points too.
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	broken, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.conf"))
	for _, p := range append(golden, broken...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		conf, _, _ := bytes.Cut(b, []byte(goldenSep))
		f.Add(conf)
	}
	m := fstest.MapFS{
		"inc.conf":   {Data: []byte("vrrp_script inc {\n script /bin/true\n}\n")},
		"loop.conf":  {Data: []byte("include loop.conf\n")},
		"other.conf": {Data: []byte("$Q=other\n")},
	}
	lim := &readLimits{includeDepth: 4, files: 8, lineLen: 4096, lines: 2000, bytes: 200000,
		processed: 10000, substs: 200, passes: 10, blockDepth: 16, defLen: 4096, sources: 200, braceAlts: 16}
	opts := LoadOptions{ReadOptions: ReadOptions{ConfigID: "main", FS: m, Random: func(n int64) int64 { return 0 }, limits: lim}}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		cfg, diags := LoadBytes("keepalived.conf", data, opts)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("loading took %v", d)
		}
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}
		read := map[string]bool{}
		for _, f := range cfg.Files {
			read[f] = true
		}
		for _, d := range diags {
			if d.Pos.File != "" && (!read[d.Pos.File] || d.Pos.Line < 1) {
				t.Errorf("diagnostic at a position outside the files read %v: %v", cfg.Files, d)
			}
			if strings.TrimSpace(d.Msg) == "" {
				t.Errorf("diagnostic without a message at %s", d.Pos)
			}
		}
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("the model does not marshal: %v", err)
		}
		cfg2, diags2 := LoadBytes("keepalived.conf", data, opts)
		js2, _ := json.Marshal(cfg2)
		if diags.String() != diags2.String() || !bytes.Equal(js, js2) {
			t.Fatalf("two loads of the same input differ:\n%s\n---\n%s", diags, diags2)
		}
		if !diags.HasErrors() {
			checkModelInvariants(t, cfg)
		}
	})
}

// checkModelInvariants asserts what validation promises about a Config
// that loaded without errors.
func checkModelInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	names := map[string]bool{}
	for _, vi := range cfg.Instances {
		if names[vi.Name] {
			t.Errorf("vrrp_instance %s accepted twice", vi.Name)
		}
		names[vi.Name] = true
		if vi.Interface == "" {
			t.Errorf("vrrp_instance %s accepted without an interface", vi.Name)
		}
		if vi.VRID < 1 || vi.VRID > 255 {
			t.Errorf("vrrp_instance %s accepted with VRID %d", vi.Name, vi.VRID)
		}
		if vi.Priority < 1 || vi.Priority > 255 {
			t.Errorf("vrrp_instance %s accepted with priority %d", vi.Name, vi.Priority)
		}
		if vi.Version != 2 && vi.Version != 3 {
			t.Errorf("vrrp_instance %s accepted with version %d", vi.Name, vi.Version)
		}
		if vi.AdvertInt <= 0 {
			t.Errorf("vrrp_instance %s accepted with advert_int %v", vi.Name, vi.AdvertInt)
		}
		for _, va := range vi.VirtualAddresses {
			if va.Address.Addr().Is6() != vi.IPv6 {
				t.Errorf("vrrp_instance %s accepted with VIP %s of the other family", vi.Name, va.Address)
			}
		}
	}
	for _, vs := range cfg.VirtualServers {
		if len(vs.RealServers) == 0 {
			t.Errorf("%s accepted without real servers", vsName(vs))
		}
	}
}
