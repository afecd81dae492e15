package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // error substring; empty = valid
	}{
		{"minimal", []string{"-url", "http://10.99.0.100/"}, ""},
		{"t0", []string{"-url", "http://x/", "-t0", "1700000000.123456"}, ""},
		{"no url", nil, "-url is required"},
		{"zero interval", []string{"-url", "http://x/", "-interval", "0s"}, "must be positive"},
		{"negative timeout", []string{"-url", "http://x/", "-timeout", "-1s"}, "must be positive"},
		{"zero count", []string{"-url", "http://x/", "-count", "0"}, "-count must be positive"},
		{"bad t0", []string{"-url", "http://x/", "-t0", "yesterday"}, "want seconds since the epoch"},
		{"extra arg", []string{"-url", "http://x/", "more"}, `unexpected argument "more"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseOptions(tc.args, &stderr)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	o, err := parseOptions([]string{"-url", "http://x/", "-t0", "1700000000.5"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.UnixMilli(1700000000500); !o.t0.Equal(want) {
		t.Errorf("t0 = %v, want %v", o.t0, want)
	}
}

func TestShortError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, "connection refused"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}}, "no route to host"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: context.DeadlineExceeded}, "timeout"},
		{errors.New("something else"), "something else"},
	}
	for _, tc := range tests {
		if got := shortError(tc.err); got != tc.want {
			t.Errorf("shortError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRunAgainstServer runs the whole prober against a loopback server for
// a handful of requests: it must report the answering node and count every
// request.
func TestRunAgainstServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "nodeA")
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run([]string{"-url", srv.URL, "-count", "5", "-interval", "5ms", "-timeout", "2s", "-prefix", "[t]"}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"[t] +",
		"answered by nodeA\n",
		"[t] 5 requests, 0 failed; answers by node: nodeA=5\n",
		"longest interruption: 0 ms (no request failed)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestRunNoServer probes a closed loopback port: every request fails and the
// summary says so.
func TestRunNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: connections are refused
	var out bytes.Buffer
	err = run([]string{"-url", "http://" + addr + "/", "-count", "3", "-interval", "5ms", "-timeout", "2s"}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"requests failing (connection refused), no answer yet",
		"3 requests, 3 failed; answers by node: none",
		"no request was ever answered",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestRunStatusError treats a non-200 answer as a failure.
func TestRunStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nodeB", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run([]string{"-url", srv.URL, "-count", "2", "-interval", "5ms"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := "requests failing (HTTP 503 Service Unavailable)"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
