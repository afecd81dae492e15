package e2e

// Claims of docs/SECURITY.md about a running daemon, checked on one: what
// a local user and the network can reach of it with the default settings.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// inetListeners returns the TCP sockets in LISTEN state and every bound
// UDP socket of h's network namespace, as "proto local-address" (hex, as
// /proc/net prints them).
func inetListeners(h *netlab.Host) ([]string, error) {
	var out []string
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := h.Exec(ctx, "cat", "/proc/net/"+proto)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			// st 0A is TCP_LISTEN; for UDP any socket listed is bound.
			if strings.HasPrefix(proto, "udp") || f[3] == "0A" {
				out = append(out, proto+" "+f[1])
			}
		}
	}
	return out, nil
}

// TestSecurityDefaults: with the default settings a daemon opens no TCP or
// UDP port at all (metrics are off until vigil_metrics_listen), and its
// control socket is 0600 in a 0700 directory. With metrics on, the one
// listener is the configured address (the control case: the check sees
// listeners when there are some).
func TestSecurityDefaults(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	in := Instance{Name: "VI_1", State: "MASTER", Priority: 150, AdvertInt: "1", VIPs: []string{vip4 + "/24"}}
	va := StartVigil(t, a, Conf(nil, in))
	vb := StartVigil(t, b, Conf([]string{fmt.Sprintf("vigil_metrics_listen 127.0.0.1:%d", opsMetricsPort)}, Instance{Name: "VI_1", Priority: 100, AdvertInt: "1", VIPs: []string{vip4 + "/24"}}))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a, b}, "eth0", vip4, a)
	// Both are up and answering on their control sockets.
	opsWaitStates(t, 10*time.Second, b, vb, map[string]string{"VI_1": "BACKUP"})

	if ls, err := inetListeners(a); err != nil || len(ls) != 0 {
		t.Errorf("default daemon listens on %v (%v), want nothing", ls, err)
	}
	ls, err := inetListeners(b)
	// 127.0.0.1:9165 in /proc/net/tcp's notation.
	want := fmt.Sprintf("tcp 0100007F:%04X", opsMetricsPort)
	if err != nil || len(ls) != 1 || ls[0] != want {
		t.Errorf("daemon with metrics listens on %v (%v), want [%s]", ls, err, want)
	}

	sock := opsSocket(va)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(sock))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("control socket directory mode %v, want 0700", di.Mode().Perm())
	}
}
