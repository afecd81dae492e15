package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
)

// FuzzLoadStreams checks that Load, which parses each top-level block as
// soon as it is read and reuses its memory, gives exactly what reading the
// whole tree first and parsing it after (ReadBytes, then Parse) gives: the
// same model and the same diagnostics. A parser that kept a node, an
// argument list or a block past its own top-level line would break this
// (the reused memory holds the next line by then).
func FuzzLoadStreams(f *testing.F) {
	for _, s := range fuzzLoadSeeds {
		f.Add([]byte(s))
	}
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
	// Many top-level blocks, large enough to fill several slabs.
	var big bytes.Buffer
	for i := range 300 {
		big.WriteString("vrrp_instance VI_" + string(rune('a'+i%26)) + "x" + strconv.Itoa(i) + " {\n interface eth0\n virtual_router_id " + strconv.Itoa(i%255+1) +
			"\n priority 100\n track_script {\n chk weight 3\n }\n virtual_ipaddress {\n 10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1) + "/32 dev eth0\n }\n notify \"/bin/x a b\"\n}\n")
		big.WriteString("virtual_server 10.1.0." + strconv.Itoa(i%250+1) + " " + strconv.Itoa(80+i) + " {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.2.0.1 80 {\n MISC_CHECK {\n misc_path \"/bin/check " + strconv.Itoa(i) + "\"\n }\n }\n}\n")
	}
	big.WriteString("vrrp_script chk {\n script /bin/true\n}\n")
	f.Add(big.Bytes())

	m := fstest.MapFS{
		"inc.conf":   {Data: []byte("vrrp_script inc {\n script /bin/true\n}\n")},
		"loop.conf":  {Data: []byte("include loop.conf\n")},
		"other.conf": {Data: []byte("$Q=other\n")},
	}
	lim := &readLimits{includeDepth: 4, files: 8, lineLen: 4096, lines: 20000, bytes: 2000000,
		processed: 40000, substs: 200, passes: 10, blockDepth: 16, defLen: 4096, sources: 200, braceAlts: 16}
	opts := LoadOptions{ReadOptions: ReadOptions{ConfigID: "main", FS: m, Random: func(n int64) int64 { return 0 }, limits: lim}}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotDiags := LoadBytes("keepalived.conf", data, opts)

		nodes, files, readDiags := ReadBytes("keepalived.conf", data, opts.ReadOptions)
		want, diags := Parse(nodes, opts)
		want.Files = files
		wantDiags := append(append(Diagnostics(nil), readDiags...), diags...)
		wantDiags.Sort()

		if g, w := gotDiags.String(), wantDiags.String(); g != w {
			t.Fatalf("diagnostics differ\nLoad:\n%s\nReadBytes+Parse:\n%s", g, w)
		}
		gj, err1 := json.Marshal(got)
		wj, err2 := json.Marshal(want)
		if err1 != nil || err2 != nil {
			t.Fatalf("marshal: %v, %v", err1, err2)
		}
		if !bytes.Equal(gj, wj) {
			t.Fatalf("models differ\nLoad:\n%s\nReadBytes+Parse:\n%s", gj, wj)
		}
	})
}
