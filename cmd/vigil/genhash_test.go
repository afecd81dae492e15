package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestGenhashEntryPoints(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"genhash", "-h"}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "Usage: vigil genhash COMMAND [OPTIONS]") {
		t.Errorf("vigil genhash -h: exit %d, stderr %q", code, errb.String())
	}
	for name, want := range map[string]bool{"genhash": true, "/usr/bin/genhash": true, "vigil": false, "/usr/sbin/genhash-x": false} {
		if got := isGenhash(name); got != want {
			t.Errorf("isGenhash(%q) = %v, want %v", name, got, want)
		}
	}
}
