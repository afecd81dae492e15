package runpath

import "testing"

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Files
	}{
		{"defaults: keepalived's places, Vigil's names", Input{}, Files{
			PidFile: "/run/vigil.pid", VRRPPidFile: "/run/vigil_vrrp.pid", CheckersPidFile: "/run/vigil_checkers.pid",
			Socket: "/run/vigil/vigil.sock", StateFile: "/run/vigil/addresses.json",
		}},
		{"a namespace has its own directory", Input{Namespace: "blue"}, Files{
			PidFile: "/run/vigil/blue/vigil.pid", VRRPPidFile: "/run/vigil/blue/vrrp.pid", CheckersPidFile: "/run/vigil/blue/checkers.pid",
			Socket: "/run/vigil/blue/vigil.sock", StateFile: "/run/vigil/blue/addresses.json",
		}},
		{"an instance name suffixes every file", Input{Instance: "lb1"}, Files{
			PidFile: "/run/vigil/vigil_lb1.pid", VRRPPidFile: "/run/vigil/vrrp_lb1.pid", CheckersPidFile: "/run/vigil/checkers_lb1.pid",
			Socket: "/run/vigil/vigil_lb1.sock", StateFile: "/run/vigil/addresses_lb1.json",
		}},
		{"namespace and instance", Input{Namespace: "blue", Instance: "lb1"}, Files{
			PidFile: "/run/vigil/blue/vigil_lb1.pid", VRRPPidFile: "/run/vigil/blue/vrrp_lb1.pid", CheckersPidFile: "/run/vigil/blue/checkers_lb1.pid",
			Socket: "/run/vigil/blue/vigil_lb1.sock", StateFile: "/run/vigil/blue/addresses_lb1.json",
		}},
		{"use_pid_dir", Input{UsePidDir: true}, Files{
			PidFile: "/run/vigil/vigil.pid", VRRPPidFile: "/run/vigil/vrrp.pid", CheckersPidFile: "/run/vigil/checkers.pid",
			Socket: "/run/vigil/vigil.sock", StateFile: "/run/vigil/addresses.json",
		}},
		{"-p names the socket and the state file", Input{PidFile: "/run/lb1.pid"}, Files{
			PidFile: "/run/lb1.pid", VRRPPidFile: "/run/vigil_vrrp.pid", CheckersPidFile: "/run/vigil_checkers.pid",
			Socket: "/run/lb1.sock", StateFile: "/run/lb1.addresses.json",
		}},
		{"-p wins over the namespace; -r and -c as given", Input{Namespace: "blue", PidFile: "/var/run/a", VRRPPidFile: "/x/v.pid", CheckersPidFile: "/x/c.pid"}, Files{
			PidFile: "/var/run/a", VRRPPidFile: "/x/v.pid", CheckersPidFile: "/x/c.pid",
			Socket: "/var/run/a.sock", StateFile: "/var/run/a.addresses.json",
		}},
		{"VIGIL_STATE_DIR holds everything not given", Input{StateDirEnv: "/tmp/t1", PidFile: "/tmp/p.pid"}, Files{
			PidFile: "/tmp/p.pid", VRRPPidFile: "/tmp/t1/vrrp.pid", CheckersPidFile: "/tmp/t1/checkers.pid",
			Socket: "/tmp/t1/vigil.sock", StateFile: "/tmp/t1/addresses.json",
		}},
		{"VIGIL_SOCKET wins", Input{Namespace: "blue", SocketEnv: "/tmp/s.sock"}, Files{
			PidFile: "/run/vigil/blue/vigil.pid", VRRPPidFile: "/run/vigil/blue/vrrp.pid", CheckersPidFile: "/run/vigil/blue/checkers.pid",
			Socket: "/tmp/s.sock", StateFile: "/run/vigil/blue/addresses.json",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Resolve(tc.in); got != tc.want {
				t.Errorf("Resolve(%+v)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

// Two daemons that keepalived would keep apart never share a file.
func TestResolveSeparates(t *testing.T) {
	pairs := [][2]Input{
		{{Namespace: "a"}, {Namespace: "b"}},
		{{}, {Namespace: "b"}},
		{{Instance: "x"}, {Instance: "y"}},
		{{}, {Instance: "y"}},
		{{PidFile: "/run/a.pid"}, {PidFile: "/run/b.pid"}},
		{{}, {PidFile: "/run/b.pid"}},
	}
	for _, p := range pairs {
		a, b := Resolve(p[0]), Resolve(p[1])
		for _, pa := range []string{a.PidFile, a.Socket, a.StateFile} {
			for _, pb := range []string{b.PidFile, b.Socket, b.StateFile} {
				if pa == pb {
					t.Errorf("%+v and %+v share %s", p[0], p[1], pa)
				}
			}
		}
	}
}
