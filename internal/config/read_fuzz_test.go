package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzRead feeds arbitrary text to ReadBytes, with small limits so every
// input finishes quickly, and checks that reading never panics, always
// ends, and ties every diagnostic and node to a file and line.
func FuzzRead(f *testing.F) {
	seeds := []string{
		"global_defs {\n router_id r1\n}\n",
		"vrrp_instance VI_1 { state MASTER\n virtual_ipaddress { 10.0.0.1/24 }\n}\n",
		"a \"b # c\" 'd e' \\x41 \\101 ! comment\n",
		"$A=1\n$B=${A}.$A\n$B ${_RANDOM 1 9} ${_HASH} ${_INSTANCE}\n",
		"$M= \\\n x ${N} \\\n y {\\\n }\n$N=2\n$M\n",
		"@main a\n@^main b\n@x\n",
		"~SEQ(I,1,3) ~LST({A,B},{1,2},{3}) l$I.$A.$B\n",
		"include inc.conf\ninclude *.conf\nincludea {x,y}.conf\n",
		"}\n{\n{ a }\n}}}\n",
		"$A=$A\n$A\n",
		"global_defs {\n include_check\n}\ninclude nope\n",
		"a\r\nb {\r\n}\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	m := fstest.MapFS{
		"inc.conf":   {Data: []byte("in_inc {\ninclude keepalived.conf\n}\n")},
		"other.conf": {Data: []byte("$Q=other\n")},
	}
	lim := &readLimits{includeDepth: 4, files: 8, lineLen: 4096, lines: 2000, bytes: 200000,
		processed: 10000, substs: 200, passes: 10, blockDepth: 16, defLen: 4096, sources: 200, braceAlts: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		opts := ReadOptions{ConfigID: "main", FS: m, Random: func(n int64) int64 { return 0 }, limits: lim}
		nodes, files, diags := ReadBytes("keepalived.conf", data, opts)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("reading took %v", d)
		}
		if len(files) == 0 || files[0] != "keepalived.conf" {
			t.Errorf("files = %q", files)
		}
		for _, d := range diags {
			if d.Pos.File == "" || d.Pos.Line < 1 {
				t.Errorf("diagnostic without file:line: %v", d)
			}
		}
		var walk func([]*Node, int)
		walk = func(ns []*Node, depth int) {
			for _, n := range ns {
				if depth > lim.blockDepth {
					t.Fatalf("node %q is %d blocks deep, beyond the limit %d", n.Name, depth, lim.blockDepth)
				}
				if n.Pos.File == "" || n.Pos.Line < 1 {
					t.Errorf("node without position: %+v", n)
				}
				if !n.HasBlock && (len(n.Block) > 0 || n.EndPos != (Pos{})) {
					t.Errorf("node %q has block contents without a block", n.Name)
				}
				walk(n.Block, depth+1)
			}
		}
		walk(nodes, 0)
	})
}

// TestFuzzReadCorpus makes sure the corpus directory holds only valid
// corpus files, so "go test" runs them as regression cases.
func TestFuzzReadCorpus(t *testing.T) {
	paths, _ := filepath.Glob("testdata/fuzz/FuzzRead/*")
	if len(paths) == 0 {
		t.Fatal("no seed corpus in testdata/fuzz/FuzzRead")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
			t.Errorf("%s is not a Go fuzz corpus file (%v)", p, err)
		}
	}
}
