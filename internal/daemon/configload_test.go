package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
)

// TestLoadConfigTolerates is the daemon's side of the table in
// docs/OPERATIONS.md: an unknown keyword is logged at warn level with its
// file:line and suggestion and the file is used, unless --strict or
// vigil_strict; any other error refuses the file, strict or not.
func TestLoadConfigTolerates(t *testing.T) {
	const inst = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 100\n%s\n}\n"
	tests := []struct {
		name     string
		global   string
		line     string
		strict   bool
		wantRun  bool
		wantWarn string
	}{
		{name: "unknown keyword", line: " nopreemt", wantRun: true, wantWarn: `did you mean \"nopreempt\"`},
		{name: "unknown keyword, --strict", line: " nopreemt", strict: true},
		{name: "unknown keyword, vigil_strict", global: "global_defs {\n vigil_strict\n}\n", line: " nopreemt"},
		{name: "bad address", line: " virtual_ipaddress {\n  10.0.0.300/24\n }"},
		{name: "bad address and unknown keyword", line: " nopreemt\n virtual_ipaddress {\n  10.0.0.300/24\n }"},
		{name: "clean", line: "", wantRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keepalived.conf")
			text := tt.global + strings.Replace(inst, "%s", tt.line, 1)
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			var logb bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logb, nil))
			cfg, diags, err := loadConfig(context.Background(), Options{ConfigFile: path, Strict: tt.strict}, log)
			if (err == nil) != tt.wantRun {
				t.Fatalf("err = %v, want running %v; log:\n%s", err, tt.wantRun, logb.String())
			}
			if err != nil {
				var de *config.DiagnosticsError
				if !errors.As(err, &de) {
					t.Fatalf("err %T is not a *config.DiagnosticsError", err)
				}
				return
			}
			if len(cfg.Instances) != 1 {
				t.Fatalf("%d instances", len(cfg.Instances))
			}
			if tt.wantWarn == "" {
				if len(diags.Tolerated()) != 0 {
					t.Errorf("tolerated %v", diags.Tolerated())
				}
				return
			}
			if len(diags.Tolerated()) != 1 {
				t.Fatalf("tolerated %v, want one", diags.Tolerated())
			}
			var line string
			for _, l := range strings.Split(logb.String(), "\n") {
				if strings.Contains(l, "nopreemt") {
					line = l
				}
			}
			for _, w := range []string{"level=WARN", "pos=" + path + ":5", tt.wantWarn, "tolerated=true"} {
				if !strings.Contains(line, w) {
					t.Errorf("log line %q lacks %q", line, w)
				}
			}
			rep := configReport(path, diags, time.Unix(0, 0))
			if len(rep.Tolerated) != 1 || !strings.HasPrefix(rep.Tolerated[0], path+":5: error: unknown keyword") {
				t.Errorf("report's tolerated = %q", rep.Tolerated)
			}
		})
	}
}

// TestReloadReply checks the answer to `vigil reload`: the diagnostics as
// `vigil -t` prints them, the instances by what happened to them (address
// and priority updates both count as changed in place), and what could
// not be applied.
func TestReloadReply(t *testing.T) {
	diags := config.Diagnostics{
		{Pos: config.Pos{File: "k.conf", Line: 3}, Severity: config.Warning, Msg: "w"},
		{Pos: config.Pos{File: "k.conf", Line: 7}, Severity: config.Error, Msg: "unknown keyword \"x\"", Tolerable: true},
	}
	sum := reloadSummary{
		UnchangedNames: []string{"VI_9"}, AddressesChangedNames: []string{"VI_2"}, PriorityChangedNames: []string{"VI_1"},
		RestartedNames: []string{"VI_3"}, AddedNames: []string{"VI_4"}, RemovedNames: []string{"VI_5"},
	}
	got := reloadReply(diags, sum, errors.Join(errors.New("VI_4: socket: denied"), errors.New("static route: exists")))
	if want := []string{`k.conf:7: error: unknown keyword "x"`}; !reflect.DeepEqual(got.Tolerated, want) {
		t.Errorf("tolerated = %q, want %q", got.Tolerated, want)
	}
	if want := []string{"k.conf:3: warning: w"}; !reflect.DeepEqual(got.Warnings, want) {
		t.Errorf("warnings = %q, want %q", got.Warnings, want)
	}
	in := got.Instances
	if !reflect.DeepEqual(in.InPlace, []string{"VI_1", "VI_2"}) || !reflect.DeepEqual(in.Added, []string{"VI_4"}) ||
		!reflect.DeepEqual(in.Removed, []string{"VI_5"}) || !reflect.DeepEqual(in.Restarted, []string{"VI_3"}) ||
		!reflect.DeepEqual(in.Unchanged, []string{"VI_9"}) {
		t.Errorf("instances = %+v", in)
	}
	if want := []string{"VI_4: socket: denied", "static route: exists"}; !reflect.DeepEqual(got.Errors, want) {
		t.Errorf("errors = %q, want %q", got.Errors, want)
	}
}

// TestReloadTellsLVSChildBeforeParsing checks the order of a reload in the
// parent: the LVS child is told first, so that its own load of the file
// does not wait for the parent's; the file here is refused, which the
// child finds out for itself (it keeps its configuration, as the parent
// does), so it is told all the same.
func TestReloadTellsLVSChildBeforeParsing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte("vrrp_instance VI_1 {\n  no_such_keyword_at_all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	told := false
	d := &daemon{o: Options{ConfigFile: path, Strict: true}, log: slog.New(slog.DiscardHandler), reloadLVS: func() { told = true }}
	if _, err := d.reload(context.Background()); err == nil {
		t.Fatal("the broken file was not refused")
	}
	if !told {
		t.Errorf("the LVS child was not told of the reload before the parent's parse")
	}
}
