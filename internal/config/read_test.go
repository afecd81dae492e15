package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// writeFiles creates files (name -> text) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// names lists the names of nodes, depth first.
func names(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
		out = append(out, names(n.Block)...)
	}
	return out
}

func TestReadFileOS(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"etc/keepalived.conf": "include conf.d/*.conf\ninclude conf.d/exec.sh\nmain ${_PWD}\n",
		"etc/conf.d/a.conf":   "in_a ${_PWD}\ninclude ../shared/s.conf\n",
		"etc/shared/s.conf":   "in_s\n",
		"etc/conf.d/exec.sh":  "never_read\n",
	})
	if err := os.Chmod(filepath.Join(dir, "etc/conf.d/exec.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A dangling link matched by the wildcard cannot be read.
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "etc/conf.d/z.conf")); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "etc/keepalived.conf")
	nodes, files, diags := ReadFile(main, ReadOptions{})
	if got, want := strings.Join(names(nodes), " "), "in_a in_s main"; got != want {
		t.Errorf("nodes = %q, want %q", got, want)
	}
	if len(nodes) == 3 {
		if got := nodes[0].Args; len(got) != 1 || got[0] != filepath.Join(dir, "etc/conf.d") {
			t.Errorf("${_PWD} in conf.d/a.conf = %q, want the absolute directory", got)
		}
		if got := nodes[2].Args; len(got) != 1 || got[0] != filepath.Join(dir, "etc") {
			t.Errorf("${_PWD} after the include = %q, want the main file's directory", got)
		}
		if got := nodes[1].Pos; got.File != filepath.Join(dir, "etc/shared/s.conf") || got.Line != 1 {
			t.Errorf("position of in_s = %v", got)
		}
	}
	wantFiles := []string{main, filepath.Join(dir, "etc/conf.d/a.conf"), filepath.Join(dir, "etc/shared/s.conf")}
	if strings.Join(files, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("files = %q, want %q", files, wantFiles)
	}
	var gotDiags []string
	for _, d := range diags {
		gotDiags = append(gotDiags, strconv.Itoa(d.Pos.Line)+" "+d.Severity.String()+" "+d.Msg)
		if d.Pos.File != main {
			t.Errorf("diagnostic not at the include line: %v", d)
		}
	}
	want := []string{
		"1 error include conf.d/*.conf: cannot read " + filepath.Join(dir, "etc/conf.d/z.conf") + ": no such file or directory",
		"2 warning include conf.d/exec.sh: " + filepath.Join(dir, "etc/conf.d/exec.sh") + " is not a regular non-executable file; skipped",
	}
	if strings.Join(gotDiags, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(gotDiags, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadFileMissingMain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.conf")
	nodes, files, diags := ReadFile(p, ReadOptions{})
	if nodes != nil || files != nil || len(diags) != 1 || diags[0].Pos.File != p || !diags.HasErrors() ||
		!strings.Contains(diags[0].Msg, "no such file") {
		t.Errorf("ReadFile(missing) = %v, %v, %v", nodes, files, diags)
	}
}

func TestReadBytesIncludesRelativeToName(t *testing.T) {
	m := fstest.MapFS{"etc/keepalived/inc.conf": {Data: []byte("from_inc\n")}}
	nodes, files, diags := ReadBytes("/etc/keepalived/keepalived.conf", []byte("include inc.conf\nx\n"), ReadOptions{FS: m})
	if got := strings.Join(names(nodes), " "); got != "from_inc x" || len(diags) != 0 {
		t.Errorf("nodes %q, diags %v", got, diags)
	}
	if len(files) != 2 || files[1] != "/etc/keepalived/inc.conf" {
		t.Errorf("files = %q", files)
	}
}

func TestReadDefaultRandomInRange(t *testing.T) {
	for i := 0; i < 50; i++ {
		nodes, _, diags := ReadBytes("r.conf", []byte("${_RANDOM 3 5}\n"), ReadOptions{FS: fstest.MapFS{}})
		if len(diags) != 0 || len(nodes) != 1 {
			t.Fatalf("nodes %v diags %v", nodes, diags)
		}
		if v, err := strconv.Atoi(nodes[0].Name); err != nil || v < 3 || v > 5 {
			t.Fatalf("${_RANDOM 3 5} = %q", nodes[0].Name)
		}
	}
}

// TestReadLimits checks that inputs built to never end, or to grow without
// bound, end with an error instead.
func TestReadLimits(t *testing.T) {
	small := &readLimits{includeDepth: 4, files: 10, lineLen: 1024, lines: 1000, bytes: 100000,
		processed: 5000, substs: 100, passes: 10, blockDepth: 8, defLen: 1000, sources: 100, braceAlts: 16}
	tests := []struct {
		name, text, want string
	}{
		{"self", "$A=$A x\n$A\n", "parameter replacements"},
		{"mutual", "$A=${B}\n$B=${A}\n$A\n", "parameter replacements"},
		{"growth", "$A=${A}" + strings.Repeat("g", 50) + "\n$A\n", "grows beyond"},
		{"multiline loop", "$M=\\\nx \\\n$M\n$M\n", "expands to more than"},
		{"seq product", "~SEQ(A,1,999) ~SEQ(B,1,999) x\n", "expands to more than"},
		{"silent seq product", "~SEQ(A,1,999) ~SEQ(B,1,999) ~SEQ(C,1,999)\n", "more than 5000 lines to process"},
		{"huge seq", "~SEQ(A,1,100000) x\n", "would repeat"},
		{"deep", strings.Repeat("a {\n", 20) + strings.Repeat("}\n", 20), "nested more than 8 deep"},
		{"long def", "$M=\\\n" + strings.Repeat(strings.Repeat("y", 100)+" \\\n", 20) + "end\n", "longer than 1000 bytes"},
		{"long line", strings.Repeat("z", 2000) + "\n", "longer than 1024 bytes"},
		{"many braces", "include {a,b}{a,b}{a,b}{a,b}{a,b}\n", "too many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, diags := ReadBytes("k.conf", []byte(tt.text), ReadOptions{FS: fstest.MapFS{}, limits: small})
			if !diags.HasErrors() || !strings.Contains(diags.String(), tt.want) {
				t.Errorf("diagnostics %q, want an error containing %q", diags.String(), tt.want)
			}
			for _, d := range diags {
				if d.Pos.File != "k.conf" || d.Pos.Line < 1 {
					t.Errorf("diagnostic without file:line: %v", d)
				}
			}
		})
	}
}

func TestReadIncludeDepth(t *testing.T) {
	m := fstest.MapFS{}
	for i := 0; i < 10; i++ {
		m["f"+strconv.Itoa(i)+".conf"] = &fstest.MapFile{Data: []byte("include f" + strconv.Itoa(i+1) + ".conf\n")}
	}
	lim := readDefaultLimits
	lim.includeDepth = 4
	_, files, diags := ReadFile("f0.conf", ReadOptions{FS: m, limits: &lim})
	if len(files) != 4 || !strings.Contains(diags.String(), "f3.conf:1: error: include f4.conf: includes nested more than 4 deep") {
		t.Errorf("files %q diags %q", files, diags.String())
	}
}

// TestReadSamples reads keepalived's own sample configurations when the
// package that ships them is installed: each must read without an error.
func TestReadSamples(t *testing.T) {
	paths, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	if len(paths) == 0 {
		t.Skip("keepalived samples not installed (/usr/share/doc/keepalived/samples)")
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".gz") {
			continue
		}
		nodes, files, diags := ReadFile(p, ReadOptions{ConfigID: "main"})
		if diags.HasErrors() || len(nodes) == 0 || len(files) == 0 || files[0] != p {
			t.Errorf("%s: %d nodes, files %q, diagnostics:\n%s", p, len(nodes), files, diags)
		}
	}
}
