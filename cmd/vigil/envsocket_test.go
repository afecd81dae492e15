package main

import "testing"

func TestEnvSocket(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set: the default", nil, ""},
		{"VIGIL_SOCKET", map[string]string{"VIGIL_SOCKET": "/x/ctl.sock"}, "/x/ctl.sock"},
		{"state directory", map[string]string{"VIGIL_STATE_DIR": "/var/tmp/v1"}, "/var/tmp/v1/vigil.sock"},
		{"VIGIL_SOCKET wins over the state directory",
			map[string]string{"VIGIL_SOCKET": "/x/ctl.sock", "VIGIL_STATE_DIR": "/var/tmp/v1"}, "/x/ctl.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := envSocket(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("envSocket = %q, want %q", got, tt.want)
			}
		})
	}
}
