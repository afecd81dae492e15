package track

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"vigil/internal/config"
)

func TestProcessMatch(t *testing.T) {
	p := func(comm string, argv ...string) Proc { return Proc{Comm: comm, Argv: argv} }
	tests := []struct {
		name string
		tp   config.TrackProcess
		proc Proc
		want bool
	}{
		{"name matches comm", config.TrackProcess{Process: []string{"haproxy"}}, p("haproxy", "/usr/sbin/haproxy", "-f", "x"), true},
		{"no substring match", config.TrackProcess{Process: []string{"ssh"}}, p("sshd"), false},
		{"long name against truncated comm", config.TrackProcess{Process: []string{"averyveryverylongname"}}, p("averyveryverylo"), true},
		{"full command matches argv0", config.TrackProcess{Process: []string{"/usr/sbin/haproxy"}, FullCommand: true}, p("haproxy", "/usr/sbin/haproxy"), true},
		{"full command exact: extra params refused", config.TrackProcess{Process: []string{"/usr/sbin/haproxy"}, FullCommand: true}, p("haproxy", "/usr/sbin/haproxy", "-f"), false},
		{"params exact", config.TrackProcess{Process: []string{"/bin/app", "-c", "a.conf"}}, p("app", "/bin/app", "-c", "a.conf"), true},
		{"params exact, more given", config.TrackProcess{Process: []string{"/bin/app", "-c"}}, p("app", "/bin/app", "-c", "a.conf"), false},
		{"params differ", config.TrackProcess{Process: []string{"/bin/app", "-c", "b.conf"}}, p("app", "/bin/app", "-c", "a.conf"), false},
		{"partial: more params allowed", config.TrackProcess{Process: []string{"/bin/app", "-c"}, ParamMatch: config.ParamMatchPartial}, p("app", "/bin/app", "-c", "a.conf"), true},
		{"partial: words must be whole", config.TrackProcess{Process: []string{"/bin/app", "-c", "a"}, ParamMatch: config.ParamMatchPartial}, p("app", "/bin/app", "-c", "a.conf"), false},
		{"initial: last param is a prefix", config.TrackProcess{Process: []string{"/bin/app", "-c", "a"}, ParamMatch: config.ParamMatchInitial}, p("app", "/bin/app", "-c", "a.conf"), true},
		{"initial: earlier params whole", config.TrackProcess{Process: []string{"/bin/app", "-", "a"}, ParamMatch: config.ParamMatchInitial}, p("app", "/bin/app", "-c", "a.conf"), false},
		{"param_match without params: none allowed", config.TrackProcess{Process: []string{"/bin/app"}, ParamMatch: config.ParamMatchExact}, p("app", "/bin/app", "-x"), false},
		{"argv0 differs", config.TrackProcess{Process: []string{"/bin/app", "-c"}}, p("app", "/usr/bin/app", "-c"), false},
		{"empty cmdline (kernel thread)", config.TrackProcess{Process: []string{"/bin/app"}, FullCommand: true}, p("app"), false},
	}
	for _, tc := range tests {
		if got := MatchFrom(&tc.tp).Matches(tc.proc); got != tc.want {
			t.Errorf("%s: got %v, want %v (match %+v)", tc.name, got, tc.want, MatchFrom(&tc.tp))
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in    string
		comm  string
		state byte
		ok    bool
	}{
		{"1 (init) S 0 1", "init", 'S', true},
		{"42 (a (b) c) Z 1", "a (b) c", 'Z', true},
		{"42 (x)", "", 0, false},
		{"garbage", "", 0, false},
	}
	for _, tc := range tests {
		comm, st, ok := parseStat([]byte(tc.in))
		if comm != tc.comm || st != tc.state || ok != tc.ok {
			t.Errorf("parseStat(%q) = %q %q %v", tc.in, comm, st, ok)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"1 (init) S 0", "2 ((x)) R", ")(", "3 (a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		comm, _, ok := parseStat(b)
		if ok && len(comm) > len(b) {
			t.Fatal("comm longer than input")
		}
		parseCmdline(b)
	})
}

// fakeProc is a /proc tree in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

func (f fakeProc) add(pid int, comm, state string, argv ...string) {
	d := filepath.Join(f.root, strconv.Itoa(pid))
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "stat"), []byte(strconv.Itoa(pid)+" ("+comm+") "+state+" 1 1"), 0o644)
	cl := ""
	if len(argv) > 0 {
		cl = strings.Join(argv, "\x00") + "\x00"
	}
	os.WriteFile(filepath.Join(d, "cmdline"), []byte(cl), 0o644)
}

func (f fakeProc) remove(pid int) { os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))) }

func TestScanProcs(t *testing.T) {
	fp := fakeProc{t, t.TempDir()}
	fp.add(10, "nginx", "S", "nginx: master")
	fp.add(11, "nginx", "Z")
	fp.add(12, "bash", "R", "/bin/bash", "-c", "x")
	os.Mkdir(filepath.Join(fp.root, "self"), 0o755)
	list, err := ScanProcs(fp.root, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("got %+v, want 2 live processes", list)
	}
	for _, p := range list {
		if p.PID == 12 && strings.Join(p.Argv, " ") != "/bin/bash -c x" {
			t.Fatalf("argv %q", p.Argv)
		}
	}
	// The real /proc has at least this test process.
	real, err := ScanProcs("/proc", false)
	if err != nil || len(real) == 0 {
		t.Fatalf("scanning /proc: %v (%d processes)", err, len(real))
	}
}

func TestProcessWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := fakeProc{t, t.TempDir()}
		fp.add(100, "haproxy", "S")
		w := NewProcessWatcher([]ProcessConfig{{Name: "hap", Match: ProcessMatch{Name: "haproxy"}, Quorum: 1, QuorumMax: -1, TerminateDelay: 3 * time.Second}}, fp.root, time.Second, nil)
		init, err := w.Initial()
		if err != nil || len(init) != 1 || init[0].Status != Good {
			t.Fatalf("initial %+v %v", init, err)
		}
		out := make(chan Update, 4)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx, out)

		fp.remove(100) // a restart: gone for 2 s, within the terminate delay
		time.Sleep(2500 * time.Millisecond)
		fp.add(101, "haproxy", "S")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatalf("restart within terminate_delay reported: %+v", <-out)
		}
		fp.remove(101)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		select {
		case u := <-out:
			if u.Status != Bad || u.Name != "hap" {
				t.Fatalf("got %+v, want quorum lost", u)
			}
		default:
			t.Fatal("quorum loss not reported after terminate_delay")
		}
	})
}
