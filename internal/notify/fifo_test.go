package notify

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

func TestFIFOLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrrp.fifo")
	cfg := &config.Config{Global: config.GlobalDefs{VRRPNotifyFIFO: &config.NotifyFIFO{Path: path}}}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("FIFO not created: %v %v", fi, err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 100})
	n.Notify(Event{KindGroup, "G1", StateBackup, 50})
	n.Notify(Event{KindInstance, "VI_1", StateMasterRxLowerPri, 100})
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	sc := bufio.NewScanner(r)
	var got []string
	for len(got) < 3 && sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{`INSTANCE "VI_1" MASTER 100`, `GROUP "G1" BACKUP 0`, `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("FIFO lines %q, want %q", got, want)
	}
	n.Close(context.Background())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("FIFO we created was not removed: %v", err)
	}
}

// TestFIFONoReader fills a FIFO nobody reads: writes must not block, and
// lines that do not fit are counted.
func TestFIFONoReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	fo, err := OpenFIFO(&config.NotifyFIFO{Path: path}, script.Policy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	done := make(chan struct{})
	go func() {
		for range 20000 { // ~500 KB, far beyond a pipe's 64 KiB
			fo.Write("INSTANCE \"VI_1\" MASTER 100\n")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writing to a FIFO nobody reads blocked")
	}
	if fo.Dropped() == 0 {
		t.Fatal("no line dropped although nobody reads")
	}
}

func TestFIFORefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o644)
	link := filepath.Join(dir, "link")
	unix.Mkfifo(filepath.Join(dir, "real"), 0o644)
	os.Symlink(filepath.Join(dir, "real"), link)
	for _, p := range []string{plain, link, filepath.Join(dir, "nodir", "fifo")} {
		if fo, err := OpenFIFO(&config.NotifyFIFO{Path: p}, script.Policy{}, nil); err == nil {
			fo.Close()
			t.Errorf("%s accepted as a notify FIFO", p)
		}
	}
	if _, err := os.Stat(plain); err != nil {
		t.Errorf("refusing removed an existing file: %v", err)
	}
}

// TestFIFOScript starts the notify_fifo_script, which reads the FIFO named
// by its last argument, and checks a line reaches it.
func TestFIFOScript(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fifo")
	out := filepath.Join(dir, "out")
	sc := filepath.Join(dir, "reader.sh")
	os.WriteFile(sc, []byte("#!/bin/sh\nwhile read line; do echo \"$line\" >> "+out+"; done < \"$1\"\n"), 0o755)
	fo, err := OpenFIFO(&config.NotifyFIFO{Path: path, Script: &config.Command{Argv: []string{sc}}}, script.Policy{User: currentUser(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fo.Write("INSTANCE \"VI_1\" BACKUP 90\n")
	deadline := time.Now().Add(10 * time.Second)
	var b []byte
	for time.Now().Before(deadline) {
		if b, _ = os.ReadFile(out); len(b) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the reader script runs on its own
	}
	fo.Close() // kills the reader
	if strings.TrimSpace(string(b)) != `INSTANCE "VI_1" BACKUP 90` {
		t.Fatalf("reader script got %q", b)
	}
}
