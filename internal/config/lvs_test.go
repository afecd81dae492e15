package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// updateLVS rewrites the want part of the lvs_*.txt golden files.
var updateLVS = flag.Bool("update-lvs", false, "rewrite testdata/golden/lvs_*.txt with the current output")

// lvsTop dispatches the top-level LVS blocks. Of the VRRP-side blocks a
// test config needs for keepalived, global_defs is skipped and track_file /
// bfd_instance only record their names, since other tests own them.
func lvsTop() keywords {
	return keywords{
		"virtual_server_group": (*parser).virtualServerGroup,
		"virtual_server":       (*parser).virtualServer,
		"SSL":                  func(p *parser, n *Node) { p.sslBlock(n) },
		"global_defs":          func(p *parser, n *Node) {},
		"track_file": func(p *parser, n *Node) {
			if len(n.Args) > 0 {
				p.cfg.TrackFiles = append(p.cfg.TrackFiles, &TrackFile{Name: n.Args[0]})
			}
		},
		"bfd_instance": func(p *parser, n *Node) {
			if len(n.Args) > 0 {
				p.cfg.Global.BFDInstances = append(p.cfg.Global.BFDInstances, &BFDInstance{Name: n.Args[0]})
			}
		},
	}
}

// parseLVSText reads text with the real front end, then runs the LVS parser
// and validation only, so these tests do not depend on the VRRP side. The
// track_file and bfd_instance names the LVS checks refer to are collected
// by hand. ok is false when the front end found errors.
func parseLVSText(t testing.TB, file, text string) (*parser, bool) {
	nodes, _, diags := ReadBytes(file, []byte(text), ReadOptions{})
	if diags.HasErrors() {
		return nil, false
	}
	p := &parser{cfg: &Config{}, diags: diags}
	p.walk(nodes, lvsTop(), "")
	p.validateLVS()
	p.diags.Sort()
	return p, true
}

// lvsOutput renders what a golden file expects: the diagnostics, then the
// LVS part of the model as JSON when there is no error.
func lvsOutput(p *parser) string {
	var b strings.Builder
	b.WriteString(p.diags.String())
	if !p.diags.HasErrors() {
		out := struct {
			Groups  []*VirtualServerGroup `json:"virtual_server_groups,omitempty"`
			Servers []*VirtualServer      `json:"virtual_servers,omitempty"`
		}{p.cfg.VirtualServerGroups, p.cfg.VirtualServers}
		j, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return "marshal: " + err.Error()
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

const wantSep = "-- want --\n"

func TestLVSGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/lvs_*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d lvs golden cases, want at least 25", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			conf, want, found := strings.Cut(string(raw), wantSep)
			if !found {
				t.Fatalf("no %q separator", strings.TrimSpace(wantSep))
			}
			p, ok := parseLVSText(t, "keepalived.conf", conf)
			if !ok {
				t.Fatal("test lexer rejected the config")
			}
			got := lvsOutput(p)
			if *updateLVS {
				if err := os.WriteFile(f, []byte(conf+wantSep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("output differs\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

// TestLVSGoldenAgainstKeepalived runs keepalived's own config check on every
// golden config: one Vigil finds clean must be clean for keepalived, one
// Vigil rejects must be rejected by keepalived too. Configs where Vigil only
// warns are not compared: there keepalived exits non-zero after repairing
// the config, and Vigil deliberately applies the same repair and runs.
func TestLVSGoldenAgainstKeepalived(t *testing.T) {
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
			t.Skip("keepalived is not installed; the reference comparison needs it")
		}
		ka = "/usr/sbin/keepalived"
	}
	files, _ := filepath.Glob("testdata/golden/lvs_*.txt")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, _ := os.ReadFile(f)
			conf, _, _ := strings.Cut(string(raw), wantSep)
			if strings.Contains(conf, "# not-keepalived") {
				t.Skip("case marked as deliberately stricter than keepalived")
			}
			p, ok := parseLVSText(t, "keepalived.conf", conf)
			if !ok {
				t.Fatal("test lexer rejected the config")
			}
			if len(p.diags) > 0 && !p.diags.HasErrors() {
				t.Skip("warnings only")
			}
			path := filepath.Join(t.TempDir(), "keepalived.conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd := exec.Command(ka, "-t", "-l", "-D", "-f", path)
			cmd.Stdout, cmd.Stderr = &out, &out
			kerr := cmd.Run()
			if p.diags.HasErrors() && kerr == nil {
				t.Errorf("Vigil rejects the config but keepalived accepts it:\n%s", p.diags)
			}
			if !p.diags.HasErrors() && kerr != nil {
				t.Errorf("Vigil accepts the config but keepalived rejects it (%v):\n%s", kerr, out.String())
			}
		})
	}
}
