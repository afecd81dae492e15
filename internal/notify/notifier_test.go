package notify

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
	"vigil/internal/notify/smtptest"
)

// name is a Runner that records its runs.
type name struct {
	label string
	log   *[]string
	mu    *sync.Mutex
}

func (n name) Run(_ context.Context, _ time.Duration, extra ...string) script.Result {
	n.mu.Lock()
	*n.log = append(*n.log, strings.TrimSpace(n.label+" "+strings.Join(extra, " ")))
	n.mu.Unlock()
	return script.Result{}
}

func TestJobsFor(t *testing.T) {
	var log []string
	var mu sync.Mutex
	r := func(l string) Runner { return name{l, &log, &mu} }
	s := Scripts{Master: r("m"), Backup: r("b"), Fault: r("f"), Stop: r("s"), Deleted: r("d"), Any: r("any"), MasterRxLowerPri: r("rx")}
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{KindInstance, "VI_1", StateMaster, 100}, "m|any INSTANCE VI_1 MASTER 100"},
		{Event{KindInstance, "VI_1", StateBackup, 90}, "b|any INSTANCE VI_1 BACKUP 90"},
		{Event{KindInstance, "VI_1", StateFault, 90}, "f|any INSTANCE VI_1 FAULT 90"},
		{Event{KindInstance, "VI_1", StateStop, 90}, "s|any INSTANCE VI_1 STOP 90"},
		{Event{KindInstance, "VI_1", StateDeleted, 90}, "d|any INSTANCE VI_1 DELETED 90"},
		{Event{KindGroup, "G", StateMaster, 90}, "m|any GROUP G MASTER 0"},
		{Event{KindInstance, "VI_1", StateMasterRxLowerPri, 100}, "rx"},
		{Event{KindInstance, "VI_1", StateMasterPriority, 100}, ""},
	}
	for _, tc := range tests {
		log = nil
		for _, j := range jobsFor(s, tc.ev) {
			j.run.Run(context.Background(), 0, j.extra...)
		}
		if got := strings.Join(log, "|"); got != tc.want {
			t.Errorf("%+v: ran %q, want %q", tc.ev, got, tc.want)
		}
	}
	if got := jobsFor(Scripts{}, Event{KindInstance, "x", StateMaster, 1}); len(got) != 0 {
		t.Errorf("no scripts configured, yet %d jobs", len(got))
	}
}

// TestNotifierScriptsInOrder runs real scripts and checks that an
// instance's scripts ran in event order, with keepalived's arguments.
func TestNotifierScriptsInOrder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "log")
	write := func(n, body string) string {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755)
		return p
	}
	master := write("master.sh", "echo master \"$@\" >> "+out)
	backup := write("backup.sh", "sleep 0.05; echo backup \"$@\" >> "+out) // slow: a later script must still wait
	any := write("any.sh", "echo any \"$@\" >> "+out)
	cfg := &config.Config{
		Global: config.GlobalDefs{ScriptUser: &config.Command{Argv: []string{currentUser(t)}}},
		Instances: []*config.VRRPInstance{{Name: "VI_1", Notify: config.Notify{
			Master: &config.Command{Argv: []string{master, "arg one"}},
			Backup: &config.Command{Argv: []string{backup}},
			Any:    &config.Command{Argv: []string{any, "x"}},
		}}},
		SyncGroups: []*config.SyncGroup{{Name: "G1", Notify: config.Notify{Any: &config.Command{Argv: []string{any}}}}},
	}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.Notify(Event{KindInstance, "VI_1", StateBackup, 100})
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 110})
	n.Notify(Event{KindInstance, "VI_1", StateFault, 0})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Notify blocked for %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n.Notify(Event{KindGroup, "G1", StateMaster, 0}) // after Close: ignored
	b, _ := os.ReadFile(out)
	want := "backup\nany x INSTANCE VI_1 BACKUP 100\nmaster arg one\nany x INSTANCE VI_1 MASTER 110\nany x INSTANCE VI_1 FAULT 0\n"
	if string(b) != want {
		t.Fatalf("scripts ran:\n%s\nwant:\n%s", b, want)
	}
}

// blocker is a Runner that blocks until released or killed.
type blocker struct {
	release chan struct{}
	running atomic.Int32
	runs    atomic.Int32
	max     atomic.Int32
}

func (b *blocker) Run(ctx context.Context, _ time.Duration, _ ...string) script.Result {
	b.runs.Add(1)
	if r := b.running.Add(1); r > b.max.Load() {
		b.max.Store(r)
	}
	defer b.running.Add(-1)
	select {
	case <-b.release:
		return script.Result{}
	case <-ctx.Done():
		return script.Result{TimedOut: true, ExitCode: -1}
	}
}

func TestNotifierNeverBlocks(t *testing.T) {
	n, err := New(&config.Config{}, Options{QueueLen: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := &blocker{release: make(chan struct{})}
	n.SetScripts(KindInstance, "VI_1", Scripts{Master: b}, false)
	start := time.Now()
	for range 10 {
		n.Notify(Event{KindInstance, "VI_1", StateMaster, 100})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Notify blocked for %v", d)
	}
	// One run holds the worker, two wait in the queue, seven are dropped
	// (the worker may not have taken the first yet: then eight).
	if c := n.Counters(); c.Dropped < 7 || c.Dropped > 8 {
		t.Fatalf("dropped %d, want 7 or 8", c.Dropped)
	}
	n.Notify(Event{Kind: "BOGUS"}) // invalid: dropped with a log line, no panic
	close(b.release)
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.max.Load() != 1 {
		t.Fatalf("%d scripts ran at once for one instance", b.max.Load())
	}
	if got := b.runs.Load() + int32(n.Counters().Dropped); got != 10 {
		t.Fatalf("runs+dropped = %d, want 10", got)
	}
}

func TestNotifierCloseKillsHungScript(t *testing.T) {
	n, _ := New(&config.Config{}, Options{})
	b := &blocker{release: make(chan struct{})}
	n.SetScripts(KindInstance, "VI_1", Scripts{Stop: b}, false)
	n.Notify(Event{KindInstance, "VI_1", StateStop, 100})
	n.Notify(Event{KindInstance, "VI_1", StateStop, 100})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := n.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want cut short", err)
	}
	if b.running.Load() != 0 || b.runs.Load() > 1 {
		t.Fatalf("after Close: %d running, %d runs (the queued one must be skipped)", b.running.Load(), b.runs.Load())
	}
}

func TestNotifierDisablesBadScripts(t *testing.T) {
	cfg := &config.Config{Instances: []*config.VRRPInstance{{Name: "VI_1", Notify: config.Notify{
		Master: &config.Command{Argv: []string{"/nonexistent/notify.sh"}},
	}}}}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	if len(n.Problems()) != 1 || !strings.Contains(n.Problems()[0].Error(), "notify_master") {
		t.Fatalf("problems %v", n.Problems())
	}
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 100}) // nothing to run, no crash
}

// currentUser is the user running the tests: scripts run as themselves, so
// the tests work as root and as an ordinary user alike.
func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// TestNotifierMailDefaults: without smtp_helo_name, notification_email_from
// and router_id, keepalived uses the local host name for all three.
func TestNotifierMailDefaults(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skipf("no host name: %v", err)
	}
	addr, mails := smtptest.Start(t)
	ip, port, _ := strings.Cut(addr, ":")
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	cfg := &config.Config{
		Global: config.GlobalDefs{
			NotificationEmail:  []string{"ops@example.org"},
			SMTPServer:         &config.SMTPServer{Host: ip, Port: p},
			SMTPConnectTimeout: 5 * time.Second,
		},
		Instances: []*config.VRRPInstance{{Name: "VI_1", SMTPAlert: true}},
	}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 100})
	var m smtptest.Mail
	select {
	case m = <-mails:
	case <-time.After(5 * time.Second):
		t.Fatal("no mail received")
	}
	if m.Helo != host {
		t.Errorf("HELO %q, want the host name %q", m.Helo, host)
	}
	if want := "MAIL FROM:<keepalived@" + host + ">"; m.From != want {
		t.Errorf("envelope sender %q, want %q", m.From, want)
	}
	if want := "Subject: [" + host + "] VRRP Instance VI_1 - Entering MASTER state"; !strings.Contains(m.Data, want) {
		t.Errorf("message lacks %q:\n%s", want, m.Data)
	}
}
