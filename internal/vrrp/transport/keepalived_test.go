package transport

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const keepalivedBin = "/usr/sbin/keepalived"

// keepalivedConf is the configuration the golden keepalived packets were
// captured with, so that what keepalived sends here must match them byte for
// byte: instance VI2 is keepalived_v2_pass.hex, VI6 keepalived_v3_ipv6.hex.
const keepalivedConf = `
vrrp_instance VI2 {
  state MASTER
  interface va
  virtual_router_id 51
  priority 200
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass secret1
  }
  virtual_ipaddress {
    10.77.0.100/24
    10.77.0.101/24
  }
}
vrrp_instance VI6 {
  version 3
  state MASTER
  interface va
  virtual_router_id 53
  priority 100
  advert_int 2
  virtual_ipaddress {
    fd00:77::110/64
    fd00:77::111/64
  }
}
`

// startKeepalived runs keepalived's VRRP process in ns with conf, stopped by
// t.Cleanup (its log is shown if the test failed).
func startKeepalived(t *testing.T, ns, conf string) {
	t.Helper()
	if _, err := os.Stat(keepalivedBin); err != nil {
		t.Skipf("keepalived is not installed (%v); skipping", err)
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "keepalived.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	vrrpPid := filepath.Join(dir, "vrrp.pid")
	cmd := exec.Command("ip", "netns", "exec", ns, keepalivedBin,
		"-n", "-l", "-D", "--vrrp", "-f", confPath,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", vrrpPid, "-c", filepath.Join(dir, "check.pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		defer logf.Close()
		// ip netns exec execs keepalived, so this is keepalived's parent
		// process; on SIGTERM it stops its VRRP child and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("keepalived did not stop on SIGTERM; killing it")
			if b, err := os.ReadFile(vrrpPid); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("keepalived log:\n%s", b)
			}
		}
	})
}

// TestFromKeepalived receives real keepalived 2.2.7 adverts, v2 over IPv4 and
// v3 over IPv6 multicast, and checks they are exactly the golden packets.
func TestFromKeepalived(t *testing.T) {
	p := newVethPair(t)
	c4, c6 := listenIn(t, p.nsB, "vb", 4), listenIn(t, p.nsB, "vb", 6)
	if err := c4.JoinGroup(Group4); err != nil {
		t.Fatal(err)
	}
	if err := c6.JoinGroup(Group6); err != nil {
		t.Fatal(err)
	}
	m4, m6 := runMux(t, c4), runMux(t, c6)
	ch51, _ := m4.Subscribe(51, 64)
	ch53, _ := m6.Subscribe(53, 64)
	v2 := readGolden(t, "keepalived_v2_pass.hex")
	v3 := readGolden(t, "keepalived_v3_ipv6.hex")

	startKeepalived(t, p.nsA, keepalivedConf)

	// keepalived may start in BACKUP and wait out the master down timer
	// (3 intervals and a skew: about 7 s for VI6) before it advertises.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name string
		ch   <-chan Received
		g    goldenPacket
		idx  int
	}{
		{"v2 IPv4", ch51, v2, p.idxB},
		{"v3 IPv6", ch53, v3, p.idxB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for {
				var r Received
				select {
				case r = <-tt.ch:
				case <-ctx.Done():
					t.Fatal("no advert from keepalived in time")
				}
				// Skip anything but a normal advert (e.g. a priority 0 one
				// should keepalived restart); there must be one in time.
				if len(r.Payload) > 2 && r.Payload[2] == 0 {
					continue
				}
				if !bytes.Equal(r.Payload, tt.g.payload) {
					t.Fatalf("keepalived sent %x, golden packet is %x", r.Payload, tt.g.payload)
				}
				checkMeta(t, r.Meta, tt.g.src, tt.g.dst, 255, tt.idx)
				return
			}
		})
	}
}
