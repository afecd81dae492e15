package lvs

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane"
)

var update = flag.Bool("update", false, "rewrite the golden files' want sections")

// TestDesiredGolden loads each testdata/desired/*.txt: a keepalived.conf,
// optionally a "-- health --" section of health reports applied after
// Start, and a "-- want --" section with the desired table (ipvsadm -Sn
// style) and the events, which the test compares.
//
// A health line is "VS-INDEX ADDR:PORT up|down [weight N]" (VS-INDEX counts
// virtual_server blocks from 0), or "held ADDR" / "released ADDR".
//
// The tables at start (before any health line) of every file were checked
// by hand against keepalived 2.2.7 on Linux 6.1: `ipvsadm -Sn` after
// keepalived started on the same configuration printed the same lines.
// The VM lab turns that comparison into a test.
func TestDesiredGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/desired/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			conf, rest, _ := strings.Cut(text, "-- health --\n")
			var health string
			if rest != "" {
				health, _, _ = strings.Cut(rest, "-- want --\n")
			} else {
				conf, _, _ = strings.Cut(text, "-- want --\n")
			}
			_, want, _ := strings.Cut(text, "-- want --\n")

			cfg, diags := config.LoadBytes("keepalived.conf", []byte(conf), config.LoadOptions{})
			if diags.HasErrors() {
				t.Fatalf("config errors:\n%s", diags.Errors())
			}
			e := New(cfg)
			var log strings.Builder
			logEvents(&log, e.Start())
			for i, line := range strings.Split(strings.TrimSpace(health), "\n") {
				if line == "" {
					continue
				}
				logEvents(&log, applyHealthLine(t, e, cfg, i+1, line))
			}
			got := e.Desired().Format() + thresholds(e.Desired()) + "-- events --\n" + log.String()
			if *update {
				head, _, _ := strings.Cut(text, "-- want --\n")
				if err := os.WriteFile(file, []byte(head+"-- want --\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("desired table and events differ (run with -update to rewrite)\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func applyHealthLine(t *testing.T, e *Engine, cfg *config.Config, n int, line string) []Event {
	t.Helper()
	f := strings.Fields(line)
	switch f[0] {
	case "held", "released":
		return e.SetHeld(netip.MustParseAddr(f[1]), f[0] == "held")
	}
	i, err := strconv.Atoi(f[0])
	if err != nil || i >= len(cfg.VirtualServers) || len(f) < 3 {
		t.Fatalf("health line %d: bad %q", n, line)
	}
	h := Health{Up: f[2] == "up"}
	if len(f) == 5 && f[3] == "weight" {
		w, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			t.Fatalf("health line %d: bad weight %q", n, f[4])
		}
		h.Weight, h.Dynamic = w, true
	}
	id := RealID{VS: IDOf(cfg.VirtualServers[i]), Real: netip.MustParseAddrPort(f[1])}
	return e.SetHealth(id, h)
}

// thresholds lists the connection thresholds, which ipvsadm -Sn (and so
// Format) leaves out.
func thresholds(t dataplane.Table) string {
	var b strings.Builder
	for _, k := range t.Keys() {
		for _, d := range t[k].Dests {
			if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
				fmt.Fprintf(&b, "thresholds %s -> %s upper=%d lower=%d\n", k, d.Key, d.UpperThreshold, d.LowerThreshold)
			}
		}
	}
	return b.String()
}

func logEvents(b *strings.Builder, evs []Event) {
	for _, ev := range evs {
		fmt.Fprintf(b, "%s %s", ev.Kind, ev.VS)
		if ev.Real.IsValid() {
			fmt.Fprintf(b, " real=%s", ev.Real)
		}
		if ev.Kind == QuorumUp || ev.Kind == QuorumDown {
			fmt.Fprintf(b, " sum=%d threshold=%d", ev.WeightSum, ev.Threshold)
		}
		if ev.Init {
			b.WriteString(" init")
		}
		if ev.Stopping {
			b.WriteString(" stopping")
		}
		if ev.Script != nil {
			fmt.Fprintf(b, " script=%q", ev.Script.Command)
		}
		fmt.Fprintf(b, " at=%s\n", ev.Pos)
	}
}
