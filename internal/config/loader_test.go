package config

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// loaderLab is a file of n virtual servers of 4 real servers each, as the
// IPVS lab's benchmark writes it, with a global_defs block first.
func loaderLab(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id lab\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n    delay_loop 60\n    lvs_sched wrr\n    lvs_method NAT\n    protocol TCP\n", i/250, i%250+1)
		for r := range 4 {
			fmt.Fprintf(&b, "    real_server 10.%d.%d.%d 8080 {\n        weight 1\n    }\n", 2+r, i/250, i%250+1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// loaderCorpus is the texts the differential test edits: the golden
// tests' configurations, the broken ones, the LVS keyword file, keepalived's
// own samples when installed, and a lab file.
func loaderCorpus(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"lab": loaderLab(40)}
	add := func(pattern string, cut bool) {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			s := string(b)
			if cut {
				s, _, _ = strings.Cut(s, goldenSep)
			}
			if strings.Contains(s, "include") {
				continue // the included files are not in the temporary directory
			}
			out[filepath.Base(p)] = s
		}
	}
	add(filepath.Join("testdata", "golden", "*.txt"), true)
	add(filepath.Join("testdata", "broken", "*.conf"), false)
	add(filepath.Join("testdata", "compat_lvs_all.conf"), false)
	add(filepath.Join(samplesDir, "keepalived.conf.*"), false)
	if len(out) < 20 {
		t.Fatalf("only %d configurations to edit", len(out))
	}
	return out
}

// loaderEdit makes one random edit of text: what an operator does
// (numbers, lines added, removed, moved) and what tries the Loader's
// rules (braces, quotes, preprocessor characters, comments, blank lines).
func loaderEdit(rng *rand.Rand, text string) string {
	lines := strings.Split(text, "\n")
	i := rng.IntN(len(lines))
	insert := func(l string) { lines = append(lines[:i], append([]string{l}, lines[i:]...)...) }
	switch rng.IntN(12) {
	case 0, 1, 2: // a number changes
		l := []byte(lines[i])
		for k := range l {
			if l[k] >= '0' && l[k] <= '9' {
				l[k] = byte('0' + rng.IntN(10))
				break
			}
		}
		lines[i] = string(l)
	case 3:
		lines = append(lines[:i], lines[i+1:]...)
	case 4:
		insert(lines[i])
	case 5:
		insert([]string{"", "# a comment", "! another", "   "}[rng.IntN(4)])
	case 6:
		insert([]string{"{", "}", "} {", "weight 3 }", "x {"}[rng.IntN(5)])
	case 7:
		c := []string{"$", "\"", "'", "\\", "@", "~", "{", "}", "!", "#", "\t", "\r"}[rng.IntN(12)]
		p := rng.IntN(len(lines[i]) + 1)
		lines[i] = lines[i][:p] + c + lines[i][p:]
	case 8:
		if i+1 < len(lines) {
			lines[i], lines[i+1] = lines[i+1], lines[i]
		}
	case 9:
		insert([]string{"    weight 7", "$W=5", "$M=lvs_sched rr \\", "@nosuch weight 2", "include /nonexistent/x.conf", "virtual_server 10.9.9.9 80 {"}[rng.IntN(6)])
	case 10:
		insert("virtual_server 10.8.0." + fmt.Sprint(rng.IntN(250)+1) + " 80 {\n    protocol TCP\n    real_server 10.8.1.1 80 {\n    }\n}")
	case 11:
		lines[i] = strings.ReplaceAll(lines[i], "weight", "wieght")
	}
	return strings.Join(lines, "\n")
}

// TestLoaderMatchesLoad is the Loader's differential test: for many random
// edits of real configurations, each applied to the last, a Loader that
// reuses what it can returns exactly what a full Load returns (deep-equal
// model, the same diagnostics, errors and warnings, in the same order).
// It also checks that the edits left it something to reuse.
func TestLoaderMatchesLoad(t *testing.T) {
	corpus := loaderCorpus(t)
	rng := rand.New(rand.NewPCG(9, uint64(len(corpus))))
	dir := t.TempDir()
	steps := 20
	if testing.Short() {
		steps = 5
	}
	reused := 0
	// In name order, so that a failure comes back with the same seed.
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		text := corpus[name]
		path := filepath.Join(dir, name+".conf")
		for _, opts := range []LoadOptions{{}, {ReadOptions: ReadOptions{ConfigID: "lb1"}, HostChecks: true}} {
			var l Loader
			cur := text
			for step := range steps {
				if err := os.WriteFile(path, []byte(cur), 0o644); err != nil {
					t.Fatal(err)
				}
				got, gotDiags := l.Load(path, opts)
				want, wantDiags := Load(path, opts)
				if !reflect.DeepEqual(gotDiags, wantDiags) {
					t.Fatalf("%s, edit %d: diagnostics\n%v\nwant\n%v\nfile:\n%s", name, step, gotDiags, wantDiags, cur)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, edit %d: the model differs from Load's\nfile:\n%s", name, step, cur)
				}
				reused += l.Stats().Reused
				cur = loaderEdit(rng, cur)
			}
		}
	}
	if reused == 0 {
		t.Errorf("no block was ever reused: the test proves nothing of the reuse")
	}
}

// TestLoaderReusesUnchangedBlocks checks the work a reload costs: one
// weight changed among 200 virtual servers parses one block and hands out
// the previous values of the 199 others (the same pointers), and the
// result is Load's.
func TestLoaderReusesUnchangedBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	text := loaderLab(200)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var l Loader
	first, diags := l.Load(path, LoadOptions{})
	if diags.HasErrors() || len(first.VirtualServers) != 200 {
		t.Fatalf("first load: %d virtual servers, %v", len(first.VirtualServers), diags)
	}
	if st := l.Stats(); st.Blocks != 200 || st.Parsed != 200 || st.Reused != 0 {
		t.Errorf("first load: %+v, want 200 blocks parsed", st)
	}
	old := "    real_server 10.3.0.77 8080 {\n        weight 1\n"
	if !strings.Contains(text, old) {
		t.Fatal("no real server to change")
	}
	text = strings.Replace(text, old, "    real_server 10.3.0.77 8080 {\n        weight 2\n", 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	next, _ := l.Load(path, LoadOptions{})
	if st := l.Stats(); st.Blocks != 200 || st.Parsed != 1 || st.Reused != 199 {
		t.Errorf("reload: %+v, want 1 block parsed and 199 reused", st)
	}
	for i, vs := range next.VirtualServers {
		if same := vs == first.VirtualServers[i]; same != (i != 76) {
			t.Errorf("virtual server %d: the same value as before is %v, want %v", i, same, i != 76)
		}
	}
	if w := next.VirtualServers[76].RealServers[1].Weight; w != 2 {
		t.Errorf("the changed real server has weight %d, want 2", w)
	}
	want, _ := Load(path, LoadOptions{})
	if !reflect.DeepEqual(next, want) {
		t.Errorf("the reload's model differs from Load's")
	}
	// A line added at the top moves every block: nothing is reused (a
	// position is part of what a block's result says).
	if err := os.WriteFile(path, []byte("# moved\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Load(path, LoadOptions{})
	if st := l.Stats(); st.Reused != 0 || st.Parsed != 200 {
		t.Errorf("after every line moved: %+v, want nothing reused", st)
	}
}

// TestLoaderEdgeCases reloads files in which one line changed into what
// must stop a block's reuse although the block's own text and line are
// the same: a multi-line definition that swallows it, a '{' after it that
// the reader gives to it, an include that leaves a block open around it.
// Each reload must return what Load returns.
func TestLoaderEdgeCases(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.inc")
	if err := os.WriteFile(open, []byte("virtual_server_group G {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vs := "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n    }\n}\n"
	for _, c := range []struct{ name, before, after string }{
		{"multi-line definition", "# x\n" + vs, "$M=lvs_sched rr \\\n" + vs},
		{"brace after", vs + "# x\n", vs + "{\n"},
		{"brace after a definition and a dropped line", vs + "# x\n# y\n# z\n", vs + "$D=1\n@other x\n{\n"},
		{"include leaves a block open", "# x\n" + vs, "include " + open + "\n" + vs},
		{"include leaves a block open, a blank line", "# x\n\n" + vs, "include " + open + "\n\n" + vs},
		{"conditional line inside", vs, strings.Replace(vs, "    protocol TCP", "@lb1 protocol UDP", 1)},
		{"block made a group's", vs, strings.Replace(vs, "10.0.0.1 80", "group G", 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "keepalived.conf")
			opts := LoadOptions{ReadOptions: ReadOptions{ConfigID: "lb1"}}
			var l Loader
			for i, text := range []string{c.before, c.after, c.before} {
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				got, gotDiags := l.Load(path, opts)
				want, wantDiags := Load(path, opts)
				if !reflect.DeepEqual(gotDiags, wantDiags) || !reflect.DeepEqual(got, want) {
					t.Errorf("load %d: diagnostics %v, want %v (or the model differs)\n%s", i, gotDiags, wantDiags, text)
				}
			}
		})
	}
}

// FuzzLoaderBlocks loads a file, then the file changed to another text,
// with one Loader: the second load must return what Load returns, and the
// block scanner's spans must be in order, apart, and each the text of a
// virtual_server block from its first line to its last.
func FuzzLoaderBlocks(f *testing.F) {
	lab := loaderLab(3)
	f.Add(lab, strings.Replace(lab, "weight 1", "weight 2", 1))
	f.Add(lab, "# x\n"+lab)
	f.Add(lab, strings.Replace(lab, "global_defs {", "$M=a \\\nglobal_defs {", 1))
	f.Add(lab, strings.Replace(lab, "}\nvirtual_server", "}\n{\nvirtual_server", 1))
	f.Add("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n", "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 { weight 2 }\n}\n")
	// Small limits, as FuzzRead's, so that every input ends quickly.
	lim := &readLimits{includeDepth: 4, files: 8, lineLen: 4096, lines: 20000, bytes: 400000,
		processed: 40000, substs: 200, passes: 10, blockDepth: 16, defLen: 4096, sources: 200, braceAlts: 16}
	opts := LoadOptions{ReadOptions: ReadOptions{limits: lim}}
	// One file for every input (each fuzzing process has its own
	// directory): a new Loader per input, so nothing carries over.
	path := filepath.Join(f.TempDir(), "keepalived.conf")
	f.Fuzz(func(t *testing.T, before, after string) {
		if len(before) > 1<<14 || len(after) > 1<<14 || strings.Contains(before+after, "include") {
			// An include here would read the host's file system (a
			// Loader reads no other); TestLoaderEdgeCases has those.
			return
		}
		for _, sp := range scanBlocks(after, *lim, 0) {
			if sp.off > len(after) || sp.next > len(after) || sp.off >= sp.next || sp.start > sp.end {
				t.Fatalf("span %+v out of the text (%d bytes)", sp, len(after))
			}
			text := after[sp.off:sp.next]
			if first, _ := lexDecomment(text); !strings.HasPrefix(first, "virtual_server") || strings.Count(after[:sp.off], "\n")+1 != sp.start ||
				strings.Count(strings.TrimSuffix(text, "\n"), "\n") != sp.end-sp.start {
				t.Fatalf("span %+v is not a block's lines: %q", sp, text)
			}
		}
		spans := scanBlocks(after, *lim, 0)
		for i := 1; i < len(spans); i++ {
			if spans[i].start <= spans[i-1].end {
				t.Fatalf("spans %+v and %+v overlap", spans[i-1], spans[i])
			}
		}
		var l Loader
		for _, text := range []string{before, after} {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, gotDiags := l.Load(path, opts)
			want, wantDiags := Load(path, opts)
			if !reflect.DeepEqual(gotDiags, wantDiags) {
				t.Fatalf("diagnostics\n%v\nwant\n%v", gotDiags, wantDiags)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the model differs from Load's")
			}
		}
	})
}
