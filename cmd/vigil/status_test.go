package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/status"
)

var statusNow = time.Date(2026, 3, 14, 16, 0, 0, 0, time.UTC)

func ptime(t time.Time) *time.Time { return &t }

// cannedStatus is what the fake daemon reports.
var cannedStatus = status.StatusJSON{
	Time: statusNow,
	Instances: []status.InstanceJSON{
		{
			Name: "VI_1", Interface: "eth0", VRID: 51, State: "MASTER", BasePriority: 150, EffectivePriority: 140,
			VIPs:           []string{"10.77.0.100/24", "10.77.0.101/32 dev eth1"},
			LastTransition: ptime(statusNow.Add(-(2*time.Hour + 5*time.Minute))), LastReason: "master down timer expired",
		},
		{
			Name: "VI_6", Interface: "eth0", VRID: 52, State: "BACKUP", BasePriority: 100, EffectivePriority: 100,
			VIPs: []string{"fd00:77::200/64"}, MasterAddr: "fd00:77::2", MasterPriority: 200,
			LastTransition: ptime(statusNow.Add(-42 * time.Second)),
		},
		{Name: "VI_idle", State: "INIT", BasePriority: 90, EffectivePriority: 90},
	},
}

// fakeDaemon serves a canned control API on a unix socket and returns its
// path.
func fakeDaemon(t *testing.T, reload func() (int, any), events []status.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := status.ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(cannedStatus)
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		code, body := reload()
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		for _, ev := range events {
			enc.Encode(ev)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream lasts until the client leaves
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

func TestRenderStatus(t *testing.T) {
	var b bytes.Buffer
	if err := renderStatus(&b, cannedStatus); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"INSTANCE  STATE   PRIO/EFF  VIPS                                    MASTER                 LAST TRANSITION",
		"VI_1      MASTER  150/140   10.77.0.100/24,10.77.0.101/32 dev eth1  self                   2h5m ago: master down timer expired",
		"VI_6      BACKUP  100/100   fd00:77::200/64                         fd00:77::2 (prio 200)  42s ago",
		"VI_idle   INIT    90/90     -                                       -                      -",
		"",
	}, "\n")
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	renderStatus(&b, status.StatusJSON{})
	if b.String() != "no VRRP instances\n" {
		t.Fatalf("empty: %q", b.String())
	}
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                             "0s",
		59 * time.Second:              "59s",
		5*time.Minute + 3*time.Second: "5m3s",
		2*time.Hour + 5*time.Minute:   "2h5m",
		76*time.Hour + 10*time.Minute: "3d4h",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSubcommands(t *testing.T) {
	reloadOK := func() (int, any) { return 200, status.ReloadJSON{} }
	reloadWarned := func() (int, any) {
		return 200, status.ReloadJSON{
			Tolerated: []string{`k.conf:7: error: unknown keyword "nopreemt" in vrrp_instance VI_1; did you mean "nopreempt"?`},
			Warnings:  []string{"k.conf:9: warning: track_bfd is parsed but not supported yet; it has no effect"},
			Instances: status.ReloadInstances{Added: []string{"VI_3"}, Removed: []string{"VI_4"}, InPlace: []string{"VI_1"},
				Restarted: []string{"VI_2", "VI_5"}, Unchanged: []string{"VI_6"}},
		}
	}
	reloadPartial := func() (int, any) {
		return 200, status.ReloadJSON{Instances: status.ReloadInstances{Added: []string{"VI_3"}}, Errors: []string{"VI_3: socket: operation not permitted"}}
	}
	reloadRefused := func() (int, any) {
		return 409, status.ErrorJSON{Error: "bad", Errors: []string{"keepalived.conf:3: unknown keyword \"priorty\"", "keepalived.conf:9: missing interface"}}
	}
	events := []status.Event{
		{Time: statusNow, Instance: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down", Priority: 150},
		{Time: statusNow.Add(time.Second), Instance: "VI_6", From: "MASTER", To: "FAULT", Reason: "eth0 down", Priority: 100},
	}
	okSock := fakeDaemon(t, reloadOK, events)
	warnSock := fakeDaemon(t, reloadWarned, nil)
	partSock := fakeDaemon(t, reloadPartial, nil)
	refusingSock := fakeDaemon(t, reloadRefused, nil)
	absent := filepath.Join(t.TempDir(), "absent.sock")

	tests := []struct {
		name       string
		args       []string
		env        string
		wantCode   int
		wantOut    []string
		wantErr    []string
		notHandled bool
	}{
		{name: "status table", args: []string{"status", "--socket", okSock}, wantOut: []string{"INSTANCE", "VI_1      MASTER", "fd00:77::2 (prio 200)"}},
		{name: "status from env socket", args: []string{"status"}, env: okSock, wantOut: []string{"VI_6"}},
		{name: "flag beats env", args: []string{"status", "--socket=" + okSock}, env: absent, wantOut: []string{"VI_6"}},
		{name: "status json", args: []string{"status", "--json", "--socket", okSock}, wantOut: []string{`"name": "VI_1"`, `"effective_priority": 140`}},
		{name: "daemon not running", args: []string{"status", "--socket", absent}, wantCode: exitFatal, wantErr: []string{"cannot reach the daemon", absent}},
		{name: "reload ok", args: []string{"reload", "--socket", okSock}, wantOut: []string{"reloaded", "instances: 0 unchanged"}},
		{name: "reload with warnings", args: []string{"reload", "--socket", warnSock}, wantOut: []string{
			"vigil: configuration reloaded\n",
			"instances: 1 added (VI_3); 1 removed (VI_4); 1 changed in place (VI_1); 2 restarted (VI_2, VI_5); 1 unchanged\n",
			"errors run past (vigil -t rejects them; the daemon runs without these lines):\n" +
				`  k.conf:7: error: unknown keyword "nopreemt" in vrrp_instance VI_1; did you mean "nopreempt"?` + "\n",
			"warnings:\n  k.conf:9: warning: track_bfd is parsed but not supported yet; it has no effect\n"}},
		{name: "reload json", args: []string{"reload", "--json", "--socket", warnSock}, wantOut: []string{
			`"tolerated_errors": [`, `"k.conf:9: warning: track_bfd`, `"changed_in_place": [`, `"restarted": [`, `"VI_5"`}},
		{name: "reload in part", args: []string{"reload", "--socket", partSock}, wantCode: exitFatal, wantOut: []string{
			"reloaded in part", "not applied (the rest of the new configuration runs):\n  VI_3: socket: operation not permitted"}},
		{name: "reload refused", args: []string{"reload", "--socket", refusingSock}, wantCode: exitInvalid,
			wantErr: []string{"refused", `  keepalived.conf:3: unknown keyword "priorty"`, "  keepalived.conf:9: missing interface"}},
		{name: "reload unreachable", args: []string{"reload", "--socket", absent}, wantCode: exitFatal, wantErr: []string{"cannot reach"}},
		{name: "bad flag", args: []string{"status", "--bogus"}, wantCode: exitUsage, wantErr: []string{"Usage: vigil status"}},
		{name: "extra argument", args: []string{"reload", "now"}, wantCode: exitUsage, wantErr: []string{`unexpected argument "now"`}},
		{name: "help", args: []string{"events", "-h"}, wantCode: exitOK, wantErr: []string{"Usage: vigil events"}},
		{name: "not a subcommand", args: []string{"frobnicate"}, notHandled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code, handled := subcommand(context.Background(), tt.args, tt.env, &out, &errb)
			if handled == tt.notHandled {
				t.Fatalf("handled = %v", handled)
			}
			if tt.notHandled {
				return
			}
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

func TestEventsSubcommand(t *testing.T) {
	events := []status.Event{
		{Time: statusNow, Instance: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down", Priority: 150},
		{Time: statusNow.Add(time.Second), Instance: "VI_6", From: "MASTER", To: "FAULT", Reason: "eth0 down", Priority: 100},
	}
	sock := fakeDaemon(t, nil, events)
	for _, jsonOut := range []bool{false, true} {
		args := []string{"events", "--socket", sock}
		if jsonOut {
			args = append(args, "--json")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// The stream never ends on its own: leave once both lines are out.
		out := &lineWriter{want: len(events), done: cancel}
		var errb bytes.Buffer
		code, _ := subcommand(ctx, args, "", out, &errb)
		cancel()
		if code != exitOK {
			t.Fatalf("json=%v: exit %d: %s", jsonOut, code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("json=%v: %d lines: %q", jsonOut, len(lines), out.String())
		}
		for i, ev := range events {
			want := ev.String()
			if jsonOut {
				b, _ := json.Marshal(ev)
				want = string(b)
			}
			if lines[i] != want {
				t.Errorf("json=%v line %d = %q, want %q", jsonOut, i, lines[i], want)
			}
		}
	}
}

// lineWriter collects output and calls done once it has want lines.
type lineWriter struct {
	bytes.Buffer
	want int
	done func()
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if strings.Count(w.Buffer.String(), "\n") >= w.want {
		w.done()
	}
	return n, err
}
