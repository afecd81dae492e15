package genhash

import (
	"io"
	"strings"
	"testing"
)

// FuzzParse: genhash's command line parser never panics, and what it
// accepts has the three mandatory options.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"-s 127.0.0.1 -p 80 -u /", "-Sv -s::1 --port=443 --url /x", "-p", "--use -x -- a", "-t -1 -m 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, ok := Parse(strings.Fields(line), io.Discard)
		if ok && (!o.Server.IsValid() || o.Port == 0 || o.URL == "" && !strings.Contains(line, "-u") && !strings.Contains(line, "--u")) {
			t.Fatalf("accepted %q as %+v", line, o)
		}
	})
}
