package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/track"
)

func load(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, diags := config.LoadBytes("k.conf", []byte(text), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags)
	}
	return cfg
}

func TestBuildTimingDefaults(t *testing.T) {
	cfg := load(t, `
virtual_server 10.0.0.1 80 {
  protocol TCP
  delay_loop 20
  real_server 10.0.0.2 80 {
    TCP_CHECK { }
    HTTP_GET { url { path / } }
    DNS_CHECK { }
    MISC_CHECK { misc_path "/bin/true" }
  }
  real_server 10.0.0.3 80 {
    retry 4
    delay_before_retry 7
    alpha
    TCP_CHECK {
      connect_timeout 2
      warmup 0
      delay_loop 3
    }
  }
}
virtual_server 10.0.0.9 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    TCP_CHECK { }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	s := time.Second
	want := []struct {
		family Family
		tm     Timing
		alpha  bool
	}{
		{FamilyTCP, Timing{DelayLoop: 20 * s, DelayBeforeRetry: s, Warmup: 20 * s, Timeout: 5 * s, Retry: 1}, false},
		{FamilyHTTP, Timing{DelayLoop: 20 * s, DelayBeforeRetry: 3 * s, Warmup: 20 * s, Timeout: 5 * s, Retry: 1}, false},
		{FamilyPlain, Timing{DelayLoop: 20 * s, DelayBeforeRetry: 20 * s, Warmup: 20 * s, Timeout: 5 * s, Retry: 3}, false},
		{FamilyPlain, Timing{DelayLoop: 20 * s, DelayBeforeRetry: s, Warmup: 20 * s, Timeout: 20 * s, Retry: 0, FromStart: true}, false},
		{FamilyTCP, Timing{DelayLoop: 3 * s, DelayBeforeRetry: 7 * s, Warmup: 0, Timeout: 2 * s, Retry: 4}, true},
		{FamilyTCP, Timing{DelayLoop: 60 * s, DelayBeforeRetry: s, Warmup: 60 * s, Timeout: 5 * s, Retry: 1}, false},
	}
	if len(plan.Probes) != len(want) {
		t.Fatalf("%d probes, want %d", len(plan.Probes), len(want))
	}
	for i, w := range want {
		m := plan.Probes[i].Machine
		if m.Family != w.family || m.Timing != w.tm || m.Alpha != w.alpha {
			t.Errorf("probe %d (%s): family %d timing %+v alpha %v, want %d %+v %v", i, plan.Probes[i].Name, m.Family, m.Timing, m.Alpha, w.family, w.tm, w.alpha)
		}
	}
	if len(plan.Servers) != 3 || plan.Servers[0].Config.Key.VS != "[10.0.0.1]:tcp:80" || len(plan.Servers[0].Alpha) != 4 || !plan.Servers[1].Alpha[0] {
		t.Errorf("servers %+v", plan.Servers)
	}
}

func TestBuildSharesIdenticalChecks(t *testing.T) {
	cfg := load(t, `
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    weight 3
    TCP_CHECK { connect_timeout 2 }
  }
}
virtual_server 10.0.0.1 8080 {
  protocol TCP
  real_server 10.0.0.2 80 {
    TCP_CHECK { connect_timeout 2 }
  }
  real_server 10.0.0.3 80 {
    TCP_CHECK { connect_timeout 2 }
  }
}
virtual_server fwmark 5 {
  real_server 10.0.0.2 80 {
    TCP_CHECK { connect_timeout 3 }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(plan.Probes) != 3 {
		t.Fatalf("%d probes, want 3 (10.0.0.2 with timeout 2 shared by two virtual servers, 10.0.0.3, 10.0.0.2 with timeout 3)", len(plan.Probes))
	}
	if f := plan.Probes[0].Feeds; len(f) != 2 || f[0].Server != 0 || f[1].Server != 1 {
		t.Errorf("shared probe feeds %+v, want servers 0 and 1", f)
	}
	if w := plan.Servers[0].Config.Weight; w != 3 {
		t.Errorf("weight %d, want 3", w)
	}
	// Two checks of other targets with the same schedule and rules share
	// one machine configuration; the check of another timeout has its
	// own. Each keeps its own name.
	p := plan.Probes
	if p[0].Machine != p[1].Machine || p[0].Machine == p[2].Machine || p[2].Machine.Timing.Timeout != 3*time.Second {
		t.Errorf("machine records %p %p %p (timeout of the third %v), want the first two shared and the third its own",
			p[0].Machine, p[1].Machine, p[2].Machine, p[2].Machine.Timing.Timeout)
	}
	if !strings.Contains(p[0].Name, "10.0.0.2") || !strings.Contains(p[1].Name, "10.0.0.3") {
		t.Errorf("names %q and %q, want each its own real server", p[0].Name, p[1].Name)
	}
}

func TestBuildHTTP(t *testing.T) {
	cfg := load(t, `
virtual_server 10.0.0.1 443 {
  protocol TCP
  virtualhost vs.example
  real_server 10.0.0.2 443 {
    virtualhost rs.example
    SSL_GET {
      enable_sni
      http_protocol 1.1
      url {
        path /a
        digest 6f5902ac237024bdd0c176cb93063dc4
        status_code 200-204 404
      }
      url {
        path /b
        virtualhost url.example
        regex "up"
        regex_options caseless
      }
    }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	hp := plan.Probes[0].Prober.(*HTTPProber)
	if hp.TLS == nil || hp.Protocol != "1.1" || len(hp.URLs) != 2 || plan.Probes[0].Machine.Steps != 2 {
		t.Fatalf("prober %+v", hp)
	}
	a, bu := hp.URLs[0], hp.URLs[1]
	if a.Host != "rs.example" || a.SNI != "vs.example" || len(a.Digest) != 16 || len(a.Status) != 2 {
		t.Errorf("url /a: %+v", a)
	}
	if bu.Host != "url.example" || bu.SNI != "url.example" || bu.Regex == nil || !bu.Regex.MatchString("UP") {
		t.Errorf("url /b: %+v", bu)
	}
}

func TestBuildErrorsLeaveTheCheckerOut(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, `
SSL {
  certificate `+filepath.Join(dir, "missing.pem")+`
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    MISC_CHECK { misc_path "`+filepath.Join(dir, "nosuchscript")+` arg" }
    SSL_GET { url { path / } }
    TCP_CHECK { }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) != 2 {
		t.Fatalf("errors %v, want 2", errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "k.conf:8: MISC_CHECK") || !strings.HasPrefix(errs[1].Error(), "k.conf:9: SSL_GET") {
		t.Errorf("errors %v, want k.conf:8 MISC_CHECK and k.conf:9 SSL_GET", errs)
	}
	if len(plan.Probes) != 1 || len(plan.Servers[0].Alpha) != 1 {
		t.Errorf("%d probes, server slots %d: want the TCP_CHECK alone", len(plan.Probes), len(plan.Servers[0].Alpha))
	}
	// A configuration test asks for the errors alone: the same ones.
	_, only := Build(cfg, BuildOptions{ProblemsOnly: true})
	if fmt.Sprint(only) != fmt.Sprint(errs) {
		t.Errorf("ProblemsOnly errors %v, want %v", only, errs)
	}
}

func TestBuildFileCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w")
	os.WriteFile(path, []byte("1\n"), 0o644)
	cfg := load(t, `
track_file tf {
  file `+path+`
  weight 5 reverse
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    FILE_CHECK { track_file tf }
    FILE_CHECK {
      track_file tf
      weight 2
    }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(plan.Probes) != 2 {
		t.Fatalf("%d probes", len(plan.Probes))
	}
	w0, w1 := plan.Probes[0].Watcher.(*FileWatcher), plan.Probes[1].Watcher.(*FileWatcher)
	if w0.Weight != 5 || !w0.Reverse || w1.Weight != 2 || w1.Reverse {
		t.Errorf("watchers %+v %+v", w0, w1)
	}
}

func TestBuildFileCheckMissingDirectory(t *testing.T) {
	cfg := load(t, `
track_file tf {
  file /nonexistent-vigil-dir/w
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    FILE_CHECK { track_file tf }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "k.conf:8: FILE_CHECK") || !strings.Contains(errs[0].Error(), "does not exist") {
		t.Fatalf("errors %v, want one at k.conf:8 about the directory", errs)
	}
	if len(plan.Probes) != 0 {
		t.Errorf("%d probes, want none", len(plan.Probes))
	}
	// A directory that disappears after Build makes the check a fault.
	var got []Result
	(&FileWatcher{File: track.FileConfig{Name: "tf", Path: "/nonexistent-vigil-dir/w"}}).Watch(context.Background(), func(r Result) { got = append(got, r) })
	if len(got) != 1 || got[0].OK {
		t.Errorf("watch of an untrackable file: %+v, want one failure", got)
	}
}

func TestBuildSMTPHostBlocks(t *testing.T) {
	cfg := load(t, `
virtual_server 10.0.0.1 25 {
  protocol TCP
  real_server 10.0.0.2 25 {
    SMTP_CHECK {
      helo_name check.example
      host {
        connect_ip 10.0.0.3
      }
      host {
        connect_ip 10.0.0.4
        connect_port 587
      }
    }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(plan.Probes) != 2 || len(plan.Servers[0].Alpha) != 2 {
		t.Fatalf("%d probes, %d slots: want one check per host block", len(plan.Probes), len(plan.Servers[0].Alpha))
	}
	a, b := plan.Probes[0].Prober.(*SMTPProber), plan.Probes[1].Prober.(*SMTPProber)
	if a.Conn.Target.String() != "10.0.0.3:25" || b.Conn.Target.String() != "10.0.0.4:587" || a.HeloName != "check.example" {
		t.Errorf("hosts %v %v helo %q", a.Conn.Target, b.Conn.Target, a.HeloName)
	}
}

// A checker that cannot run leaves its real server in keepalived 2.2.7's
// state: under alpha the checker was marked failed before it was dropped,
// so the server stays down (a slot no check feeds); without alpha the
// server is judged by its other checkers, and with none it is up.
func TestBuildUnrunnableCheckerKeepsAlphaState(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nosuchscript")
	cfg := load(t, `
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    alpha
    MISC_CHECK { misc_path `+missing+` }
  }
  real_server 10.0.0.3 80 {
    MISC_CHECK { misc_path `+missing+` }
  }
  real_server 10.0.0.4 80 {
    MISC_CHECK { misc_path `+missing+` }
    TCP_CHECK { alpha }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{})
	if len(errs) != 3 {
		t.Fatalf("errors %v, want 3", errs)
	}
	if !strings.Contains(errs[0].Error(), "holds real server [10.0.0.2]:80 down") || !strings.Contains(errs[1].Error(), "judged by its other checkers") {
		t.Errorf("errors %v: want the first to say the server is held down, the second that the others judge it", errs)
	}
	var o outputs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := NewRunner(plan, RunnerOptions{Output: o.add})
	go func() { r.Run(ctx); close(done) }()
	snap, ok := r.Snapshot(ctx)
	cancel()
	<-done
	if !ok {
		t.Fatal("no snapshot")
	}
	want := map[string]bool{"[10.0.0.2]:80": false, "[10.0.0.3]:80": true, "[10.0.0.4]:80": false}
	for _, h := range snap.Servers {
		if w, ok := want[h.Server.String()]; !ok || h.Up != w {
			t.Errorf("%s: up %v, want %v", h.Server, h.Up, w)
		}
	}
	if len(plan.Probes) != 1 {
		t.Errorf("%d probes, want the TCP_CHECK alone", len(plan.Probes))
	}
}

// A reload keeps a check when its Key is the same: building the same file
// twice gives the same keys for every kind, and changing one checker's
// connect_timeout or url changes that checker's key alone.
func TestBuildKeysStableAcrossReloads(t *testing.T) {
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(scriptPath, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	text := `
track_file tf {
  file ` + filepath.Join(dir, "v") + `
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    TCP_CHECK {
      connect_timeout 1
    }
    HTTP_GET {
      url {
        path /a
        digest 6f5902ac237024bdd0c176cb93063dc4
      }
      url {
        path /b
        status_code 200-299
        regex "^ok"
      }
    }
    SSL_GET {
      url {
        path /
      }
    }
    SMTP_CHECK {
      helo_name x
    }
    DNS_CHECK {
      type A
      name example.org
    }
    UDP_CHECK {
      payload 0102
      require_reply 0102
    }
    MISC_CHECK {
      misc_path "` + scriptPath + ` arg"
      misc_dynamic
    }
    PING_CHECK {
    }
    FILE_CHECK {
      track_file tf
      weight 2
    }
  }
}
`
	plans := func(text string) []*Probe {
		plan, errs := Build(load(t, text), BuildOptions{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return plan.Probes
	}
	keys := func(text string) []string {
		var k []string
		for _, p := range plans(text) {
			k = append(k, string(p.Key[:]))
		}
		return k
	}
	a, b := keys(text), keys(text)
	if len(a) != 9 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the same file built twice: keys\n%q\n%q", a, b)
	}
	for _, change := range []struct {
		from, to string
		index    int
	}{
		{"connect_timeout 1", "connect_timeout 2", 0},
		{"path /b", "path /c", 1},
	} {
		c := keys(strings.Replace(text, change.from, change.to, 1))
		for i := range a {
			if (a[i] != c[i]) != (i == change.index) {
				t.Errorf("%q → %q: key %d changed: %v, want only key %d changed", change.from, change.to, i, a[i] != c[i], change.index)
			}
		}
	}
}

// A change of a check's schedule alone keeps its Identity (the reload
// carries its state on, as keepalived); a change of its connection does
// not.
func TestBuildIdentityIgnoresSchedule(t *testing.T) {
	base := `
virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.0.2 80 {
    TCP_CHECK {
      connect_timeout 1
      delay_loop 5
      retry 2
    }
  }
}
`
	probe := func(text string) *Probe {
		plan, errs := Build(load(t, text), BuildOptions{})
		if len(errs) > 0 || len(plan.Probes) != 1 {
			t.Fatal(errs)
		}
		return plan.Probes[0]
	}
	a := probe(base)
	for _, tc := range []struct {
		from, to     string
		sameIdentity bool
	}{
		{"delay_loop 5", "delay_loop 7", true},
		{"retry 2", "retry 3", true},
		{"connect_timeout 1", "connect_timeout 2", false},
	} {
		b := probe(strings.Replace(base, tc.from, tc.to, 1))
		if a.Key == b.Key {
			t.Errorf("%s → %s: the same Key", tc.from, tc.to)
		}
		if (a.Identity == b.Identity) != tc.sameIdentity {
			t.Errorf("%s → %s: same Identity %v, want %v", tc.from, tc.to, a.Identity == b.Identity, tc.sameIdentity)
		}
	}
}

// TestBuildReusesUnchangedSpecs builds a plan with the previous one
// (BuildOptions.Prev): the real servers of a virtual server that is the
// same value and has no checkers keep their specs (the same pointers);
// one that changed (a new value), one with checkers and a new one get new
// specs; the plan equals a plan built afresh.
func TestBuildReusesUnchangedSpecs(t *testing.T) {
	text := func(w int) string {
		return fmt.Sprintf(`virtual_server 10.0.0.1 80 {
  protocol TCP
  real_server 10.0.1.1 80 {
  }
  real_server 10.0.1.2 80 {
  }
}
virtual_server 10.0.0.2 80 {
  protocol TCP
  real_server 10.0.2.1 80 {
    weight %d
  }
}
virtual_server 10.0.0.3 80 {
  protocol TCP
  real_server 10.0.3.1 80 {
    TCP_CHECK {
    }
  }
}
`, w)
	}
	cfg, changed := load(t, text(1)), load(t, text(2))
	prev, _ := Build(cfg, BuildOptions{})
	// The next configuration: the first and third values as they were,
	// the second a new value, and a fourth virtual server.
	next := *cfg
	next.VirtualServers = []*config.VirtualServer{cfg.VirtualServers[0], changed.VirtualServers[1], cfg.VirtualServers[2], changed.VirtualServers[0]}
	plan, errs := Build(&next, BuildOptions{Prev: prev})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	fresh, _ := Build(&next, BuildOptions{})
	if len(plan.Servers) != 6 || !reflect.DeepEqual(plan.Servers, fresh.Servers) || !reflect.DeepEqual(plan.Probes, fresh.Probes) {
		t.Fatalf("the plan built with Prev differs from one built afresh:\n%+v\n%+v", plan.Servers, fresh.Servers)
	}
	for i, want := range []bool{true, true, false, false, false, false} {
		same := i < len(prev.Servers) && plan.Servers[i] == prev.Servers[i]
		if same != want {
			t.Errorf("server %d (%s): reused %v, want %v", i, plan.Servers[i].Config.Key, same, want)
		}
	}
	if plan.Servers[2].Config.Weight != 2 {
		t.Errorf("the changed real server has weight %d, want 2", plan.Servers[2].Config.Weight)
	}
}
