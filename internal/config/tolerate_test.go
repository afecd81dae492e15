package config

import (
	"strings"
	"testing"
)

// tolerateBase is a valid instance; each case adds one line to it.
const tolerateBase = `global_defs {
    router_id n1
%s
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.10/24
    }
%s
}
%s
`

// TestTolerableErrors is the table of docs/OPERATIONS.md ("Mistakes the
// daemon runs past"): `-t` rejects every case (HasErrors), the daemon starts
// only on the tolerable ones, and strict refuses those too.
func TestTolerableErrors(t *testing.T) {
	tests := []struct {
		name                 string
		global, inst, top    string
		tolerable            bool
		wantMsg, wantSuggest string
	}{
		{name: "unknown keyword in an instance", inst: "    nopreemt", tolerable: true, wantMsg: `unknown keyword "nopreemt"`, wantSuggest: `did you mean "nopreempt"`},
		{name: "unknown keyword in global_defs", global: "    router_idd n2", tolerable: true, wantMsg: `unknown keyword "router_idd"`, wantSuggest: `did you mean "router_id"`},
		{name: "unknown block in an instance", inst: "    frobnicate {\n        a b\n    }", tolerable: true, wantMsg: `unknown keyword "frobnicate"`},
		{name: "unknown top-level keyword", top: "vrrp_instanse VI_2 {\n}", tolerable: true, wantMsg: `unknown keyword "vrrp_instanse"`, wantSuggest: `did you mean "vrrp_instance"`},
		{name: "checker connect_port out of range", top: "virtual_server 10.0.0.1 80 {\n    real_server 10.0.0.2 80 {\n        TCP_CHECK {\n            connect_port 70000\n        }\n    }\n}", tolerable: true, wantMsg: `connect_port: invalid port "70000"`},
		{name: "checker bind_port out of range", top: "virtual_server 10.0.0.1 80 {\n    real_server 10.0.0.2 80 {\n        TCP_CHECK {\n            bind_port 0\n        }\n    }\n}", tolerable: true, wantMsg: `bind_port: invalid port "0"`},
		{name: "priority out of range", inst: "    priority 300", wantMsg: "out of range"},
		{name: "bad virtual address", inst: "    virtual_ipaddress {\n        10.0.0.300/24\n    }", wantMsg: "10.0.0.300"},
		{name: "undefined track_script", inst: "    track_script {\n        nosuch\n    }", wantMsg: "nosuch"},
		{name: "bad auth_type", inst: "    authentication {\n        auth_type FOO\n    }", wantMsg: "FOO"},
		{name: "bad advert_int", inst: "    advert_int abc", wantMsg: "abc"},
		{name: "instance without virtual_router_id", top: "vrrp_instance VI_2 {\n    interface eth0\n}", wantMsg: "virtual_router_id"},
		{name: "misspelt required keyword", top: "vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_idd 52\n}", wantMsg: "virtual_router_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(tolerateBase, "%s", tt.global, 1)
			text = strings.Replace(text, "%s", tt.inst, 1)
			text = strings.Replace(text, "%s", tt.top, 1)
			_, diags := LoadBytes("k.conf", []byte(text), LoadOptions{})
			if !diags.HasErrors() {
				t.Fatalf("-t accepts the file; want an error:\n%s", diags)
			}
			if !strings.Contains(diags.Errors().String(), tt.wantMsg) {
				t.Errorf("errors %q do not mention %q", diags.Errors(), tt.wantMsg)
			}
			if tt.wantSuggest != "" && !strings.Contains(diags.Errors().String(), tt.wantSuggest) {
				t.Errorf("errors %q lack the suggestion %q", diags.Errors(), tt.wantSuggest)
			}
			if got := diags.StartErr(false) == nil; got != tt.tolerable {
				t.Errorf("daemon starts: %v, want %v (%s)", got, tt.tolerable, diags)
			}
			if diags.StartErr(true) == nil {
				t.Errorf("strict daemon starts on it")
			}
			if tt.tolerable && len(diags.Tolerated()) != len(diags.Errors()) {
				t.Errorf("Tolerated() = %v, want every error", diags.Tolerated())
			}
			for _, d := range diags.Tolerated() {
				if d.Pos.File != "k.conf" || d.Pos.Line == 0 {
					t.Errorf("tolerated %v has no file:line", d)
				}
			}
		})
	}
}

// TestTolerableLeavesLineOut checks that the model built past an unknown
// keyword is the file without that line: the instance's other settings are
// all there, and the misspelt setting is not (keepalived's result too).
func TestTolerableLeavesLineOut(t *testing.T) {
	text := strings.Replace(tolerateBase, "%s", "    vigil_strict", 1)
	text = strings.Replace(text, "%s", "    nopreemt\n    priority 90", 1)
	text = strings.Replace(text, "%s", "", 1)
	cfg, diags := LoadBytes("k.conf", []byte(text), LoadOptions{})
	if len(diags.Tolerated()) != 1 {
		t.Fatalf("tolerated = %v, want one", diags)
	}
	if !cfg.Global.VigilStrict {
		t.Errorf("vigil_strict not set in the model")
	}
	in := cfg.Instances[0]
	if in.Priority != 90 || in.NoPreempt {
		t.Errorf("instance priority %d nopreempt %v; want 90 and false", in.Priority, in.NoPreempt)
	}
}
