package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// startServer serves h on a fresh socket in a temporary directory and
// returns a client for it. The server stops at the end of the test.
func startServer(t *testing.T, h *Hub) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "vigil.sock")
	ln, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h.Handler(nil)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return NewClient(path), path
}

func TestListenControlModes(t *testing.T) {
	_, path := startServer(t, NewHub())
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
}

func TestListenControlRefusesLiveAndNonSocket(t *testing.T) {
	_, live := startServer(t, NewHub())
	if ln, err := ListenControl(live); err == nil {
		ln.Close()
		t.Fatal("a second daemon got the socket of a live one")
	} else if !strings.Contains(err.Error(), "another daemon") {
		t.Fatalf("error %q does not say why", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("the live socket was removed: %v", err)
	}

	file := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ln, err := ListenControl(file); err == nil {
		ln.Close()
		t.Fatal("a regular file was replaced by the socket")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the regular file was changed")
	}
	if _, err := ListenControl(""); err == nil {
		t.Fatal("empty path accepted")
	}
}

func TestListenControlRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.sock")
	// A daemon that died leaves its socket file with nobody accepting.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("setup: stale socket missing: %v", err)
	}
	ln2, err := ListenControl(path)
	if err != nil {
		t.Fatalf("stale socket not reclaimed: %v", err)
	}
	ln2.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
}

func TestClientStatus(t *testing.T) {
	h := fixtureHub()
	c, _ := startServer(t, h)
	got, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := h.Status()
	// Compare through JSON: time zones and pointer identity do not matter.
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("client got\n%s\nwant\n%s", gb, wb)
	}
}

func TestClientUnreachable(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "absent.sock"))
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach the daemon") {
		t.Fatalf("error = %v", err)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Fatalf("error shows the fake URL: %v", err)
	}
}

func TestEventsStream(t *testing.T) {
	h := NewHub()
	subs := make(chan int, 10)
	h.onSubscribers = func(n int) { subs <- n }
	c, _ := startServer(t, h)

	evs := []Event{
		{Time: t0, Instance: "VI_1", From: "INIT", To: "BACKUP", Reason: "start", Priority: 100},
		{Time: t0.Add(time.Second), Instance: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down", Priority: 100},
		{Time: t0.Add(2 * time.Second), Instance: "VI_2", From: "BACKUP", To: "FAULT", Reason: "eth1 down", Priority: 90},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []Event
	errc := make(chan error, 1)
	go func() {
		errc <- c.Events(ctx, func(ev Event) error {
			got = append(got, ev)
			if len(got) == len(evs) {
				cancel() // the client leaves
			}
			return nil
		})
	}()
	if n := waitCount(t, subs); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	for _, ev := range evs {
		h.Publish(ev)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Events: %v", err)
	}
	for i := range got {
		got[i].Time = got[i].Time.UTC()
	}
	if !reflect.DeepEqual(got, evs) {
		t.Fatalf("got %+v\nwant %+v", got, evs)
	}
	// The server notices the client left and drops the subscription.
	if n := waitCount(t, subs); n != 0 {
		t.Fatalf("%d subscribers after the client left, want 0", n)
	}
}

// waitCount returns the next subscriber count the hub reports.
func waitCount(t *testing.T, c <-chan int) int {
	t.Helper()
	select {
	case n := <-c:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber count did not change")
	}
	return -1
}

func TestEventsLostIsReported(t *testing.T) {
	h := NewHub()
	subs := make(chan int, 10)
	h.onSubscribers = func(n int) { subs <- n }
	_, path := startServer(t, h)

	// A raw reader that does not read until the hub has cut it off.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /events HTTP/1.1\r\nHost: vigil\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := waitCount(t, subs); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	// Publish far more than the buffer and the socket can hold: Publish
	// never blocks, the handler soon does on the full socket, and the hub
	// cuts the subscription off.
	for i := 0; i < 20000; i++ {
		h.Publish(Event{Instance: strings.Repeat("x", 200)})
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	if !strings.Contains(last, "events lost") {
		t.Fatalf("stream ended with %q, want the lost-events line", last)
	}
}

func TestReload(t *testing.T) {
	h := NewHub()
	c, _ := startServer(t, h)
	ctx := context.Background()

	if _, err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("reload without a hook: %v", err)
	}

	calls := 0
	h.SetReload(func(context.Context) (ReloadJSON, error) { calls++; return ReloadJSON{}, nil })
	if _, err := c.Reload(ctx); err != nil {
		t.Fatalf("accepted reload: %v", err)
	}
	if calls != 1 {
		t.Fatalf("hook called %d times", calls)
	}

	h.SetReload(func(context.Context) (ReloadJSON, error) {
		return ReloadJSON{}, errors.Join(
			errors.New("keepalived.conf:12: unknown keyword \"priorty\""),
			errors.New("keepalived.conf:30: virtual_router_id 300: want 1..255\nkeepalived.conf:31: second line"),
		)
	})
	_, err := c.Reload(ctx)
	var re *ReloadError
	if !errors.As(err, &re) {
		t.Fatalf("refused reload: %v (%T), want *ReloadError", err, err)
	}
	want := []string{
		`keepalived.conf:12: unknown keyword "priorty"`,
		"keepalived.conf:30: virtual_router_id 300: want 1..255",
		"keepalived.conf:31: second line",
	}
	if !reflect.DeepEqual(re.Errors, want) {
		t.Fatalf("errors = %q, want %q", re.Errors, want)
	}
}

// TestReloadReply checks that an applied reload's answer carries the new
// file's diagnostics and what changed, name by name, to the client; and
// that an empty answer has every list present (scripts read [] not null).
func TestReloadReply(t *testing.T) {
	h := NewHub()
	c, path := startServer(t, h)
	ctx := context.Background()
	sent := ReloadJSON{
		Tolerated: []string{`k.conf:7: error: unknown keyword "nopreemt" in vrrp_instance VI_1; did you mean "nopreempt"?`},
		Warnings:  []string{"k.conf:9: warning: track_bfd is parsed but not supported yet; it has no effect"},
		Instances: ReloadInstances{
			Added: []string{"VI_3"}, Removed: []string{"VI_4"}, InPlace: []string{"VI_1"},
			Restarted: []string{"VI_2"}, Unchanged: []string{"VI_5", "VI_6"},
		},
		Errors: []string{"VI_3: socket: operation not permitted"},
	}
	h.SetReload(func(context.Context) (ReloadJSON, error) { return sent, nil })
	got, err := c.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sent) {
		t.Fatalf("reply = %+v\nwant %+v", got, sent)
	}

	h.SetReload(func(context.Context) (ReloadJSON, error) { return ReloadJSON{}, nil })
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	resp, err := hc.Post("http://vigil/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tolerated_errors", "warnings"} {
		if l, ok := raw[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, raw[k])
		}
	}
	ins, _ := raw["instances"].(map[string]any)
	for _, k := range []string{"added", "removed", "changed_in_place", "restarted", "unchanged"} {
		if l, ok := ins[k].([]any); !ok || len(l) != 0 {
			t.Errorf("instances.%s = %#v, want []", k, ins[k])
		}
	}
}

// TestStatusConfigReport checks that GET /status carries the running
// configuration's tolerated errors and warnings once the daemon reports
// them, and nothing before.
func TestStatusConfigReport(t *testing.T) {
	h := fixtureHub()
	c, _ := startServer(t, h)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Config != nil {
		t.Fatalf("config = %+v before any report", st.Config)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.SetConfigReport(ConfigReport{File: "/etc/vigil/keepalived.conf", LoadedAt: at,
		Tolerated: []string{"k.conf:3: error: unknown keyword \"x\""},
		Warnings:  []string{"k.conf:4: warning: a", "k.conf:5: warning: b"}})
	st, err = c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := &ConfigJSON{File: "/etc/vigil/keepalived.conf", LoadedAt: at, ToleratedErrors: 1, Warnings: 2,
		Diagnostics: []string{"k.conf:3: error: unknown keyword \"x\"", "k.conf:4: warning: a", "k.conf:5: warning: b"}}
	if !reflect.DeepEqual(st.Config, want) {
		t.Fatalf("config = %+v, want %+v", st.Config, want)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	_, path := startServer(t, fixtureHub())
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/status", 200},
		{"POST", "/status", 405},
		{"GET", "/reload", 405},
		{"GET", "/nope", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://vigil"+tt.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}
