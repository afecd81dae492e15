// Package packaging holds the systemd unit, the example configuration and
// the Debian package build; its tests check that they are valid.
package packaging

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/runpath"
)

// goTool finds the go command for building the binary the checks need.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH: cannot build vigil for the check")
	}
	return p
}

// buildVigil builds cmd/vigil into dir and returns its path.
func buildVigil(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vigil")
	cmd := exec.Command(goTool(t), "build", "-o", bin, "../cmd/vigil")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// unitDirectives parses a unit file into section.key -> values (a key may
// repeat).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: bad line %q", path, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd): unit not verified")
	}
	dir := t.TempDir()
	bin := buildVigil(t, dir)
	// verify insists that ExecStart's binary exists: point it at the one
	// just built.
	unit, err := os.ReadFile("vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/sbin/vigil ") {
		t.Fatal("ExecStart does not run /usr/sbin/vigil")
	}
	path := filepath.Join(dir, "vigil.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/sbin/vigil", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Unknown keys are only warned about: treat any remark about our unit
	// as a failure.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "vigil.service") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}

func TestUnitSettings(t *testing.T) {
	d := unitDirectives(t, "vigil.service")
	want := map[string]string{
		"Service.Type":                     "notify",
		"Service.ExecReload":               "/bin/kill -HUP $MAINPID",
		"Service.Restart":                  "on-failure",
		"Service.RuntimeDirectory":         "vigil",
		"Service.RuntimeDirectoryPreserve": "yes",
		// docs/SECURITY.md: only root reaches the control socket's directory.
		"Service.RuntimeDirectoryMode": "0700",
		"Service.ProtectSystem":        "strict",
		"Unit.Conflicts":               "keepalived.service",
	}
	for k, v := range want {
		if got := d[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(d["Service.WatchdogSec"]) != 1 {
		t.Error("no WatchdogSec")
	}
	contains := map[string][]string{
		// VRRP and gARP need raw and packet sockets, addresses need netlink.
		"Service.RestrictAddressFamilies": {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"},
		"Service.CapabilityBoundingSet":   {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SYS_NICE", "CAP_IPC_LOCK"},
		// The control socket and the address record live in /run/vigil;
		// the keepalived dumps go to /tmp.
		"Service.ReadWritePaths": {"/run/vigil", "/tmp"},
	}
	for k, items := range contains {
		got := strings.Fields(strings.Join(d[k], " "))
		for _, it := range items {
			found := false
			for _, g := range got {
				found = found || g == it
			}
			if !found {
				t.Errorf("%s lacks %s (has %v)", k, it, got)
			}
		}
	}
	// Every runtime file the daemon writes by default (runpath) is in a
	// writable path of the unit: ProtectSystem=strict makes the rest
	// read-only, and a pid file that cannot be written stops the start.
	rw := strings.Fields(strings.Join(d["Service.ReadWritePaths"], " "))
	def := runpath.Resolve(runpath.Input{})
	for _, f := range []string{def.PidFile, def.VRRPPidFile, def.CheckersPidFile, def.Socket, def.StateFile} {
		ok := false
		for _, p := range rw {
			ok = ok || strings.HasPrefix(f, strings.TrimSuffix(strings.TrimPrefix(p, "-"), "/")+"/")
		}
		if !ok {
			t.Errorf("%s is not under the unit's ReadWritePaths %v", f, rw)
		}
	}
	if v := d["Service.PrivateTmp"]; len(v) > 0 && v[0] != "no" {
		t.Error("PrivateTmp would hide the dump files from exporters")
	}
}

// make build makes the package's binary: static, from the one build script.
func TestMakeBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	for _, f := range []string{"../Makefile", "build-deb.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "scripts/build.sh") {
			t.Errorf("%s does not build with scripts/build.sh", f)
		}
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command("make", "-s", "-C", "..", "build", "BIN="+bin, "GO="+goTool(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("make build made a dynamically linked binary (cgo on); the package's is static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("make build made an unstripped binary; the package's is built with -s -w")
	}
}

func TestBuildDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package; skipped with -short")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed: package build not checked")
	}
	goTool(t)
	out := t.TempDir()
	cmd := exec.Command("sh", "build-deb.sh")
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION=1.2.3+test")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "vigil_1.2.3+test_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("packages built: %v\n%s", debs, b)
	}
	deb := debs[0]

	field := func(name string) string {
		b, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	if v := field("Version"); v != "1.2.3+test" {
		t.Errorf("Version = %q", v)
	}
	if p := field("Package"); p != "vigil" {
		t.Errorf("Package = %q", p)
	}

	root := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-R", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R: %v\n%s", err, b)
	}
	for _, p := range []string{"usr/sbin/vigil", "lib/systemd/system/vigil.service", "etc/vigil/keepalived.conf", "usr/share/doc/vigil/README.md"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("package lacks /%s", p)
		}
	}
	conffiles, _ := os.ReadFile(filepath.Join(root, "DEBIAN", "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/vigil/keepalived.conf" {
		t.Errorf("conffiles = %q", conffiles)
	}
	// The packaged binary reports the version, and accepts the packaged
	// example configuration.
	bin := filepath.Join(root, "usr", "sbin", "vigil")
	if b, err := exec.Command(bin, "-v").CombinedOutput(); err != nil || !strings.Contains(string(b), "1.2.3+test") {
		t.Errorf("vigil -v: %v: %s", err, b)
	}
	if b, err := exec.Command(bin, "-t", "-f", filepath.Join(root, "etc", "vigil", "keepalived.conf")).CombinedOutput(); err != nil {
		t.Errorf("the example configuration is refused: %v\n%s", err, b)
	}
}
