package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestSignum(t *testing.T) {
	tests := []struct {
		name     string
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{"STOP", "15\n", exitOK, ""},
		{"RELOAD", "1\n", exitOK, ""},
		{"DATA", "10\n", exitOK, ""},
		{"STATS", "12\n", exitOK, ""},
		{"JSON", "36\n", exitOK, ""},
		// Known to keepalived but not caught by Vigil: no number, which a
		// script would send and kill the daemon with.
		{"STATS_CLEAR", "", exitFatal, "does not clear"},
		{"FOO", "", exitFatal, "unknown sigfunc FOO"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run([]string{"--signum=" + tc.name}, &out, &errb)
		if code != tc.wantCode || out.String() != tc.wantOut || !strings.Contains(errb.String(), tc.wantErr) {
			t.Errorf("--signum=%s: exit %d, out %q, err %q; want %d, %q, %q", tc.name, code, out.String(), errb.String(), tc.wantCode, tc.wantOut, tc.wantErr)
		}
	}
}

// Where Vigil prints a number, it is keepalived's.
func TestSignumAsKeepalived(t *testing.T) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived is not installed: cannot compare --signum with it")
	}
	for name := range signalFuncs {
		want, err := exec.Command("keepalived", "--signum="+name).Output()
		if err != nil {
			t.Errorf("keepalived --signum=%s: %v", name, err)
			continue
		}
		var out bytes.Buffer
		run([]string{"--signum", name}, &out, &bytes.Buffer{})
		if out.String() != string(want) {
			t.Errorf("--signum=%s: vigil %q, keepalived %q", name, out.String(), want)
		}
	}
}
