package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDumpConfGolden: -d prints durations in seconds, as the configuration
// writes them (advert_int 0.05, delay_loop 6), everywhere in the model:
// globals, instances, scripts, and the fields embedded in virtual servers.
func TestDumpConfGolden(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := checkConfig(&options{configFile: filepath.Join("testdata", "dump.conf"), dumpConf: true}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	golden := filepath.Join("testdata", "dump.golden")
	if *update {
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestDumpConfGolden -update writes it)", err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("-d output differs from %s:\n%s", golden, stdout.String())
	}
	for _, line := range []string{`"advert_int": 0.05`, `"smtp_connect_timeout": 30`, `"delay_loop": 6`, `"connect_timeout": 0.25`, `"preempt_delay": 1.5`} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("-d output lacks %s", line)
		}
	}
	if strings.Contains(stdout.String(), "50000000") {
		t.Errorf("-d output still holds a duration in nanoseconds")
	}
}

// TestSecondsIn covers the walk's cases on a small value: pointers,
// embedded structs, slices, maps and fields encoded their own way.
func TestSecondsIn(t *testing.T) {
	type inner struct {
		D *time.Duration `json:"d,omitempty"`
	}
	type outer struct {
		inner
		A   time.Duration            `json:"a"`
		L   []time.Duration          `json:"l"`
		M   map[string]time.Duration `json:"m"`
		N   int                      `json:"n"`
		T   time.Time                `json:"t"`
		Off time.Duration            `json:"-"`
	}
	d := 1500 * time.Millisecond
	v := outer{inner: inner{D: &d}, A: 50 * time.Millisecond, L: []time.Duration{time.Second, 2 * time.Minute}, M: map[string]time.Duration{"x": 3 * time.Second}, N: 7}
	var b bytes.Buffer
	if err := writeModel(&b, v); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(b.String()), " ")
	want := `{ "d": 1.5, "a": 0.05, "l": [ 1, 120 ], "m": { "x": 3 }, "n": 7, "t": "0001-01-01T00:00:00Z" }`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
