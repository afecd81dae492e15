package check

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// nsDialer opens connections from inside a lab host's namespace.
type nsDialer struct{ h *netlab.Host }

func (d nsDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := d.h.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// healthLog collects Health outputs and lets a test wait for a state.
type healthLog struct {
	mu   sync.Mutex
	last map[ServerKey]Health
	ch   chan struct{}
}

func (l *healthLog) add(o Output) {
	h, ok := o.(Health)
	if !ok {
		return
	}
	l.mu.Lock()
	l.last[h.Server] = h
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// waitFor waits up to bound for every server in keys to be up (or down).
func (l *healthLog) waitFor(t *testing.T, keys []ServerKey, up bool, bound time.Duration, what string) {
	t.Helper()
	deadline := time.After(bound)
	start := time.Now()
	for {
		l.mu.Lock()
		all := true
		for _, k := range keys {
			if h, ok := l.last[k]; !ok || h.Up != up {
				all = false
			}
		}
		l.mu.Unlock()
		if all {
			t.Logf("%s: after %v (bound %v)", what, time.Since(start).Round(time.Millisecond), bound)
			return
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("%s: servers not %v within %v: %+v", what, map[bool]string{true: "up", false: "down"}[up], bound, l.last)
		}
	}
}

// A real server in its own namespace behind a bridge, checked from another
// namespace by TCP_CHECK and HTTP_GET with a digest, for two virtual
// servers that share the checks. A network split and a wrong digest each
// take it down within the bound keepalived's rules give (delay_loop +
// (retry+1) × connect_timeout + retry × delay_before_retry, plus Grace),
// and it comes back within delay_loop + connect_timeout of the repair.
func TestNamespaceRealServer(t *testing.T) {
	lab := netlab.New(t)
	lb := lab.AddHost("lb", "10.0.0.1/24")
	web := lab.AddHost("web", "10.0.0.2/24")

	var broken atomic.Bool
	var ln net.Listener
	if err := web.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "10.0.0.2:80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			io.WriteString(w, "maintenance\n")
			return
		}
		io.WriteString(w, "hello world\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := load(t, `
virtual_server 10.0.0.100 80 {
  protocol TCP
  delay_loop 1
  real_server 10.0.0.2 80 {
    alpha
    retry 1
    delay_before_retry 1
    warmup 0
    connect_timeout 1
    TCP_CHECK { }
    HTTP_GET {
      url {
        path /
        digest 6f5902ac237024bdd0c176cb93063dc4
      }
    }
  }
}
virtual_server 10.0.0.101 80 {
  protocol TCP
  delay_loop 1
  real_server 10.0.0.2 80 {
    alpha
    retry 1
    delay_before_retry 1
    warmup 0
    connect_timeout 1
    TCP_CHECK { }
  }
}
`)
	plan, errs := Build(cfg, BuildOptions{Dialer: nsDialer{lb}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(plan.Probes) != 2 {
		t.Fatalf("%d probes, want 2: the TCP_CHECK shared by both virtual servers", len(plan.Probes))
	}
	keys := []ServerKey{plan.Servers[0].Config.Key, plan.Servers[1].Config.Key}
	log := &healthLog{last: map[ServerKey]Health{}, ch: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { NewRunner(plan, RunnerOptions{Output: log.add}).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	const loop, timeout, dbr, retry = time.Second, time.Second, time.Second, 1
	downBound := loop + (retry+1)*timeout + retry*dbr + Grace
	upBound := loop + timeout + Grace
	slack := 5 * time.Second // scheduling on a busy shared machine

	// alpha: up only once the checks passed, so the lab is known to carry
	// traffic before the split (split right after the lab was built, the
	// server now and then never went down).
	log.waitFor(t, keys, true, BootstrapDelay+upBound+slack, "start")

	if err := web.Isolate("eth0", true); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, keys, false, downBound+slack, "network split")
	if err := web.Isolate("eth0", false); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, keys, true, upBound+slack, "network restored")

	// A wrong digest takes down the server of the virtual server with the
	// HTTP_GET only. HTTP's own rule: retry+1 failures, delay_before_retry
	// (at least delay_loop once down) apart.
	broken.Store(true)
	log.waitFor(t, keys[:1], false, downBound+slack, "wrong digest")
	log.mu.Lock()
	h := log.last[keys[1]]
	log.mu.Unlock()
	if !h.Up {
		t.Errorf("the virtual server without HTTP_GET lost its server: %+v", h)
	}
	broken.Store(false)
	log.waitFor(t, keys[:1], true, upBound+slack, "digest right again")
}
