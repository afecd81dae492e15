// Package docs holds the project's documents; its test checks that the
// tests docs/SECURITY.md names as proof of its claims exist.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityDocNamesRealTests: every `TestX` or `FuzzX` docs/SECURITY.md
// gives as the proof of a claim is a test function of the repository, and
// every row of its tables names at least one, so that a renamed or deleted
// test leaves no claim without proof.
func TestSecurityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]*)\(`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != ".." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range decl.FindAllSubmatch(b, -1) {
				defined[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]*)`")
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| claim") {
			continue
		}
		rows++
		ms := named.FindAllStringSubmatch(line, -1)
		if len(ms) == 0 {
			t.Errorf("a claim names no test: %s", line)
		}
		for _, m := range ms {
			if !defined[m[1]] {
				t.Errorf("SECURITY.md names %s, which is not a test of the repository", m[1])
			}
		}
	}
	if rows < 10 {
		t.Errorf("read %d claims; the table format changed?", rows)
	}
}
