package config

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The differential test runs every configuration in testdata/broken through
// both keepalived 2.2.7 ("keepalived -t") and Vigil's Load, and requires
// them to agree on valid versus invalid. Each file carries one mistake and
// says where it is in a header comment:
//
//	# want-line: 7            the mistake is on line 7 of this file
//	# want-line: inc/x.inc:3  ... on line 3 of an included file
//	# want: valid             odd but valid: both must accept it
//
// For an invalid file, Vigil's first error must be at that file:line.
//
// keepalived's verdict depends on the interfaces of the host it runs on
// ("-t" fails on a missing interface), so it runs in a network namespace
// the test creates, holding exactly the interfaces the corpus uses: lo and
// a veth pair eth0/eth1. Vigil does not look at the host by default.

// brokenCase is one file of the corpus with its expectation.
type brokenCase struct {
	path  string // absolute
	valid bool
	file  string // absolute path of the file holding the mistake
	line  int
}

// readBrokenCase parses a corpus file's header.
func readBrokenCase(path string) (brokenCase, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return brokenCase{}, err
	}
	c := brokenCase{path: abs}
	f, err := os.Open(abs)
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break // the header is the leading comment block
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case body == "want: valid":
			c.valid = true
			return c, nil
		case strings.HasPrefix(body, "want-line:"):
			spec := strings.TrimSpace(strings.TrimPrefix(body, "want-line:"))
			c.file = abs
			if i := strings.LastIndexByte(spec, ':'); i >= 0 {
				c.file = filepath.Join(filepath.Dir(abs), spec[:i])
				spec = spec[i+1:]
			}
			if c.line, err = strconv.Atoi(spec); err != nil || c.line < 1 {
				return c, fmt.Errorf("%s: bad want-line %q", path, body)
			}
			return c, nil
		}
	}
	return c, fmt.Errorf("%s: no \"# want-line: N\" or \"# want: valid\" header", path)
}

// keepalivedNetns creates a network namespace with the interfaces the
// corpus uses and returns its name; it is deleted when the test ends.
func keepalivedNetns(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed; the namespace for keepalived needs it")
	}
	ns := fmt.Sprintf("vigil-cfgdiff-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	ip("-n", ns, "link", "set", "eth0", "up")
	ip("-n", ns, "link", "set", "eth1", "up")
	return ns
}

// keepalivedCheck runs "keepalived -t" on path inside ns. keepalived exits
// 0 only when it has nothing at all to report about the file.
func keepalivedCheck(t *testing.T, ns, path string) (ok bool, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, keepalivedBin, "-t", "-l", "-D", "-f", path)
	cmd.Dir = filepath.Dir(path)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("keepalived -t %s: timed out", path)
	}
	if err != nil {
		if _, exit := err.(*exec.ExitError); !exit {
			t.Fatalf("keepalived -t %s: %v", path, err)
		}
	}
	return err == nil, b.String()
}

// TestDifferentialBroken is the differential test described above.
func TestDifferentialBroken(t *testing.T) {
	ensureKeepalived(t)
	if os.Geteuid() != 0 {
		t.Skip("the differential test runs keepalived in a network namespace, which needs root")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "[0-9]*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d cases in testdata/broken, want at least 40", len(files))
	}
	ns := keepalivedNetns(t)
	invalid := 0
	for _, path := range files {
		c, err := readBrokenCase(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if !c.valid {
			invalid++
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".conf"), func(t *testing.T) {
			kaOK, kaOut := keepalivedCheck(t, ns, c.path)
			_, diags := Load(c.path, LoadOptions{})
			vigilOK := !diags.HasErrors()
			if kaOK != c.valid {
				t.Errorf("keepalived accepts=%v, but the case says valid=%v; the case is wrong:\n%s", kaOK, c.valid, kaOut)
			}
			if vigilOK != kaOK {
				t.Errorf("keepalived accepts=%v, Vigil accepts=%v\nVigil:\n%skeepalived:\n%s", kaOK, vigilOK, diags, kaOut)
				return
			}
			if c.valid {
				return
			}
			first := diags.Errors()[0]
			if first.Pos.File != c.file || first.Pos.Line != c.line {
				t.Errorf("Vigil's first error is at %s, want %s:%d\nVigil:\n%s", first.Pos, c.file, c.line, diags)
			}
		})
	}
	if invalid < 40 {
		t.Errorf("%d invalid cases, want at least 40 (valid ones come on top)", invalid)
	}
}
