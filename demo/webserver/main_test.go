package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerAnswersWithNodeName(t *testing.T) {
	for _, name := range []string{"node1", "node2"} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(handler(name))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/any/path")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			if got := strings.TrimSpace(string(body)); got != name {
				t.Errorf("body %q, want %q", got, name)
			}
			if !resp.Close {
				t.Error("the server kept the connection open; every request must reach the VIP afresh")
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"-addr", "127.0.0.1:0"}, "-name is required"},
		{"zero duration", []string{"-name", "n", "-max-duration", "0s"}, "-max-duration must be positive"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(tc.args, &stderr)
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
