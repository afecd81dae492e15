package config

import (
	"encoding/json"
	"strings"
	"testing"
)

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

// wantSep is the golden files' separator, for the tests that read only
// their configuration part.
const wantSep = goldenSep
