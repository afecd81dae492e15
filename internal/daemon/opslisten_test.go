package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/status"
)

func TestListenOpsRefusesASecondDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vigil.sock")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := listenOps(sock, "", log)
	if err != nil {
		t.Fatal(err)
	}
	first.serve(status.NewHub())
	if _, err := listenOps(sock, "", log); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("second daemon on the same socket: err = %v, want it refused", err)
	}
	first.stop()
	// Stopped, the socket can be taken again (a clean restart).
	again, err := listenOps(sock, "", log)
	if err != nil {
		t.Fatalf("after stop: %v", err)
	}
	again.stop()
}

func TestListenOpsMetricsInUseLeavesNothingOpen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sock := filepath.Join(t.TempDir(), "vigil.sock")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := listenOps(sock, busy.Addr().String(), log); err == nil || !strings.Contains(err.Error(), "metrics listener") {
		t.Fatalf("metrics address in use: err = %v, want a metrics listener error", err)
	}
	// The control socket opened before the failure was closed: a daemon
	// can start on it now.
	s, err := listenOps(sock, "127.0.0.1:0", log)
	if err != nil {
		t.Fatalf("control socket left open by the failed start: %v", err)
	}
	s.serve(status.NewHub())
	resp, err := http.Get("http://" + s.metrics.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %s", resp.Status)
	}
	s.stop()
	if _, err := net.Dial("tcp", s.metrics.Addr().String()); err == nil {
		t.Fatal("metrics listener still answers after stop")
	}
}
