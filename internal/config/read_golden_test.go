package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// The reader's golden cases live in testdata/tree/*.txt:
//
//	# id=main            (optional option lines, comments to the reader)
//	config text of keepalived.conf
//	-- file: inc/a.conf --
//	text of another file (any number of these)
//	-- want --
//	the tree, then "-- diagnostics --" and one diagnostic per line if any
//
// Run "go test ./internal/config -run TestReadGolden -update" to rewrite
// the want sections after an intended change, and review the diff.

func init() {
	// Another test file of the package may already own -update; share it.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files with the current output")
	}
}

func readUpdateFlag() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// readCase is one parsed golden file.
type readCase struct {
	main  string            // text of keepalived.conf
	files map[string]string // other files
	id    string
	want  string
	head  string // everything before "-- want --", kept for -update
}

func parseReadCase(t *testing.T, text string) readCase {
	t.Helper()
	head, want, ok := strings.Cut(text, "-- want --\n")
	if !ok {
		t.Fatalf("no \"-- want --\" line")
	}
	c := readCase{files: map[string]string{}, want: want, head: head}
	name := ""
	var cur strings.Builder
	flush := func() {
		if name == "" {
			c.main = cur.String()
		} else {
			c.files[name] = cur.String()
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(head, "\n") {
		if strings.HasPrefix(line, "-- file: ") && strings.HasSuffix(line, " --\n") {
			flush()
			name = strings.TrimSuffix(strings.TrimPrefix(line, "-- file: "), " --\n")
			continue
		}
		if name == "" && strings.HasPrefix(line, "# id=") {
			c.id = strings.TrimSpace(strings.TrimPrefix(line, "# id="))
		}
		cur.WriteString(line)
	}
	flush()
	return c
}

// renderTree prints nodes one per line, indented two spaces per level, with
// each line's position at the end: "@N" in the main file, "@file:N" in
// others. Arguments that are empty or hold blanks or quotes are quoted.
func renderTree(b *strings.Builder, nodes []*Node, depth int, main string) {
	at := func(p Pos) string {
		if p.File == main {
			return fmt.Sprintf("@%d", p.Line)
		}
		return "@" + p.String()
	}
	for _, n := range nodes {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(renderWord(n.Name))
		for _, a := range n.Args {
			b.WriteByte(' ')
			b.WriteString(renderWord(a))
		}
		if n.HasBlock {
			b.WriteString(" {")
		}
		b.WriteString("  " + at(n.Pos) + "\n")
		if n.HasBlock {
			renderTree(b, n.Block, depth+1, main)
			b.WriteString(strings.Repeat("  ", depth) + "}  " + at(n.EndPos) + "\n")
		}
	}
}

func renderWord(w string) string {
	if w == "" || strings.ContainsAny(w, " \t\"'\\") || strconv.Quote(w) != `"`+w+`"` {
		return strconv.Quote(w)
	}
	return w
}

// runReadCase reads a case from a MapFS and renders the result.
func runReadCase(c readCase) string {
	m := fstest.MapFS{"keepalived.conf": &fstest.MapFile{Data: []byte(c.main)}}
	for n, d := range c.files {
		m[n] = &fstest.MapFile{Data: []byte(d)}
	}
	opts := ReadOptions{ConfigID: c.id, FS: m, Random: func(n int64) int64 { return n / 2 }}
	nodes, files, diags := ReadFile("keepalived.conf", opts)
	var b strings.Builder
	renderTree(&b, nodes, 0, "keepalived.conf")
	if len(files) > 1 {
		b.WriteString("-- files --\n" + strings.Join(files, "\n") + "\n")
	}
	if len(diags) > 0 {
		b.WriteString("-- diagnostics --\n" + diags.String())
	}
	return b.String()
}

func TestReadGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/tree/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 25 {
		t.Errorf("only %d golden cases in testdata/tree, want at least 25", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			c := parseReadCase(t, string(raw))
			got := runReadCase(c)
			if readUpdateFlag() {
				if err := os.WriteFile(p, []byte(c.head+"-- want --\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != c.want {
				t.Errorf("%s: output differs\n--- got ---\n%s--- want ---\n%s", p, got, c.want)
			}
		})
	}
}
