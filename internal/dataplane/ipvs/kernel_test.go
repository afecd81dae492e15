package ipvs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/lvs"
	"vigil/internal/netlab"
)

// TestKernel programs a real IPVS table in a namespace of its own: every
// desired table of internal/lvs's golden configurations goes in and reads
// back unchanged, a second run adopts it without an operation, an unknown
// scheduler is refused with the kernel's reason, and ipvsadm sees the same
// table. It needs root and a kernel with IPVS (the VM lab); elsewhere it
// skips.
func TestKernel(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skip("IPVS is not loaded in this kernel; the VM lab runs this test")
	}
	lab := netlab.New(t)
	h := lab.AddHost("director")
	var p *Plane
	if err := h.Do(func() (err error) { p, err = Open(Options{}); return }); err != nil {
		t.Fatalf("open IPVS in the namespace: %v", err)
	}
	defer p.Close()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	files, _ := filepath.Glob("../../lvs/testdata/desired/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden configurations found")
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		conf, _, _ := strings.Cut(string(raw), "-- ")
		cfg, diags := config.LoadBytes("keepalived.conf", []byte(conf), config.LoadOptions{})
		if diags.HasErrors() {
			t.Fatalf("%s: %s", file, diags.Errors())
		}
		e := lvs.New(cfg)
		e.Start()
		want := e.Desired()

		if err := p.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		r := lvs.NewReconciler(p, quiet)
		if _, err := r.Apply(ctx, want); err != nil {
			if strings.Contains(file, "forwarding") && errors.Is(err, syscall.ENOENT) {
				t.Logf("%s: %v (a scheduler or tunnel module missing from this kernel?)", file, err)
			} else {
				t.Errorf("%s: apply: %v", file, err)
			}
			continue
		}
		got, err := dataplane.Read(ctx, p)
		if err != nil {
			t.Fatalf("%s: read back: %v", file, err)
		}
		if got.Format() != want.Format() {
			t.Errorf("%s: the kernel holds\n%s\nwant\n%s", file, got.Format(), want.Format())
		}
		if n, err := lvs.NewReconciler(p, quiet).Apply(ctx, want); n != 0 || err != nil {
			t.Errorf("%s: adopting the table sent %d operations (%v), want 0", file, n, err)
		}
		if _, err := exec.LookPath("ipvsadm"); err == nil {
			out, err := h.Exec(ctx, "ipvsadm", "-Sn")
			t.Logf("%s: ipvsadm -Sn (%v):\n%s", file, err, out)
		}
	}

	err := p.AddService(ctx, dataplane.Service{Key: tcp4, Scheduler: "nosuch", PersistenceBits: 32})
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "unknown scheduler") {
		t.Errorf("unknown scheduler: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Errorf("flush: %v", err)
	}
}
