package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/status"
)

// TestStrictFlag: --strict is a long option of Vigil's own, and it reaches
// the options; keepalived's short options are untouched by it.
func TestStrictFlag(t *testing.T) {
	o, err := parseOptions([]string{"--strict", "-l"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.strict || !o.logConsole {
		t.Fatalf("options = %+v, want strict and logConsole", *o)
	}
	var b bytes.Buffer
	usage(&b)
	if !strings.Contains(b.String(), "      --strict ") {
		t.Errorf("help does not list --strict:\n%s", b.String())
	}
}

// TestConfigTestRejectsTolerable: the daemon runs past an unknown keyword,
// but -t rejects the file all the same (as keepalived -t does), with the
// line and the suggestion.
func TestConfigTestRejectsTolerable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 100\n nopreemt\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-t", "-f", path}, &out, &errb)
	if code == exitOK {
		t.Fatalf("-t accepted a file with an unknown keyword:\n%s", errb.String())
	}
	want := path + `:5: error: unknown keyword "nopreemt" in vrrp_instance VI_1; did you mean "nopreempt"?`
	if !strings.Contains(errb.String(), want) {
		t.Errorf("-t output lacks %q:\n%s", want, errb.String())
	}
	if !strings.Contains(errb.String(), "the daemon would start on this file without the 1 line(s)") {
		t.Errorf("-t output does not say the daemon runs past it:\n%s", errb.String())
	}

	// With an error the daemon never runs past, no such hint.
	conf = strings.Replace(conf, " priority 100\n", " priority 300\n", 1)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"-t", "-f", path}, &out, &errb); code == exitOK {
		t.Fatalf("-t accepted priority 300")
	}
	if strings.Contains(errb.String(), "would start") {
		t.Errorf("-t says the daemon would start on a file it refuses:\n%s", errb.String())
	}
}

// TestConfigNote: `vigil status` says when the running file has lines not
// in effect, and stays quiet otherwise (warnings alone are not worth it).
func TestConfigNote(t *testing.T) {
	tests := []struct {
		name string
		cfg  *status.ConfigJSON
		want string
	}{
		{"no report", nil, ""},
		{"warnings only", &status.ConfigJSON{File: "/k.conf", Warnings: 3}, ""},
		{"run past", &status.ConfigJSON{File: "/k.conf", ToleratedErrors: 2, Warnings: 1}, "vigil status: /k.conf: 2 line(s) with errors are not in effect"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		configNote(&b, status.StatusJSON{Config: tt.cfg})
		if (tt.want == "") != (b.Len() == 0) || !strings.Contains(b.String(), tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
	}
}
