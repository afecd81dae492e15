package vmlab

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// metricsAddr is where the daemon tests' Vigil serves its metrics, inside
// the director's own namespace (so no other test can hold the port).
const metricsAddr = "127.0.0.1:9165"

// trafficConf is TestTraffic's table, written as keepalived.conf for the
// Vigil daemon: rr over NAT, DR and TUN (ipip), wrr 1:3 over NAT on a port
// of its own, and a persistent DR service. The real servers have no
// checker, so they are up from the start, as in keepalived.
const trafficConf = `global_defs {
    vigil_metrics_listen ` + metricsAddr + `
}
virtual_server ` + vipNAT + ` 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 10.1.0.11 80 {
    }
    real_server 10.1.0.12 80 {
    }
}
virtual_server ` + vipDR + ` 80 {
    lvs_sched rr
    lvs_method DR
    protocol TCP
    real_server 10.1.0.11 80 {
    }
    real_server 10.1.0.12 80 {
    }
}
virtual_server ` + vipTUN + ` 80 {
    lvs_sched rr
    lvs_method TUN
    protocol TCP
    real_server 10.1.0.11 80 {
    }
    real_server 10.1.0.12 80 {
    }
}
virtual_server ` + vipNAT + ` 8080 {
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    real_server 10.1.0.11 80 {
        weight 1
    }
    real_server 10.1.0.12 80 {
        weight 3
    }
}
virtual_server ` + vipDRP + ` 80 {
    lvs_sched rr
    lvs_method DR
    persistence_timeout 60
    protocol TCP
    real_server 10.1.0.11 80 {
    }
    real_server 10.1.0.12 80 {
    }
}
`

// TestDaemonTraffic is TestTraffic with the table programmed by the Vigil
// daemon (-C, from trafficConf) instead of ipvsadm: real connections from
// the client through NAT, DR and TUN reach the real servers, rr alternates
// exactly, wrr 1:3 gives exactly 3 and 9 of 12, persistence keeps the
// client on one server. Then the counters: `vigil status --json` and the
// keepalived_lvs_* metrics equal `ipvsadm -Ln --stats --exact`, and the
// services counted every connection sent.
func TestDaemonTraffic(t *testing.T) {
	needDaemon(t)
	t.Parallel()
	l := newLVSLab(t)
	if table, err := ipvsTable(l.dir); err != nil || services(table) != 0 {
		t.Fatalf("the director's table is not empty before Vigil starts (%v):\n%s", err, table)
	}
	d := startDaemon(t, l.dir, "dir", trafficConf, true)
	d.lvsRunning(5)
	// The table is Vigil's, as keepalived would program it.
	save, err := ipvsadm(l.dir, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-A -t " + vipNAT + ":80 -s rr", "-a -t " + vipNAT + ":80 -r 10.1.0.11:80 -m -w 1",
		"-A -t " + vipDR + ":80 -s rr", "-a -t " + vipDR + ":80 -r 10.1.0.12:80 -g -w 1",
		"-A -t " + vipTUN + ":80 -s rr", "-a -t " + vipTUN + ":80 -r 10.1.0.11:80 -i -w 1 --tun-type ipip",
		"-A -t " + vipNAT + ":8080 -s wrr", "-a -t " + vipNAT + ":8080 -r 10.1.0.12:80 -m -w 3",
		"-A -t " + vipDRP + ":80 -s rr -p 60",
	} {
		if !slices.Contains(nonEmpty(save), want) {
			t.Fatalf("Vigil's table lacks %q:\n%s", want, save)
		}
	}

	rs1, rs2 := l.rs[0].String(), l.rs[1].String()
	sent := map[string]uint64{} // connections sent to each service
	for _, m := range []struct{ name, vip string }{{"NAT", vipNAT}, {"DR", vipDR}, {"TUN", vipTUN}} {
		t.Run(m.name+"/rr", func(t *testing.T) {
			svc := m.vip + ":80"
			got := l.names(t, svc, 8)
			sent["TCP "+svc] += 8
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("rr does not alternate: %v", got)
				}
			}
			if c := count(got); c[rs1] != 4 || c[rs2] != 4 {
				t.Fatalf("rr over 8 connections: %v, want 4 each", c)
			}
		})
	}
	t.Run("NAT/wrr", func(t *testing.T) {
		svc := vipNAT + ":8080"
		got := l.names(t, svc, 12)
		sent["TCP "+svc] += 12
		if c := count(got); c[rs1] != 3 || c[rs2] != 9 {
			t.Fatalf("wrr 1:3 over 12 connections: %v (%v), want 3 and 9", c, got)
		}
	})
	t.Run("DR/persistence", func(t *testing.T) {
		svc := vipDRP + ":80"
		got := l.names(t, svc, 6)
		sent["TCP "+svc] += 6
		if c := count(got); len(c) != 1 {
			t.Fatalf("a persistent service moved the client between servers: %v", got)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("counters", func(t *testing.T) {
		// The kernel counts every connection sent (no other traffic goes
		// through these services). The counters it reports are summed from
		// per-CPU ones by its rate estimator, every 2 s: wait for them.
		eventually(t, 30*time.Second, "ipvsadm counts the connections sent", func() (bool, error) {
			kernel, err := readIPVSStats(l.dir)
			if err != nil {
				return false, err
			}
			for svc, n := range sent {
				if kernel[svc].Conns != n {
					return false, fmt.Errorf("ipvsadm counts %d connections on %s, the test sent %d", kernel[svc].Conns, svc, n)
				}
			}
			return true, nil
		})
		// The LVS process reads the counters every 2 s: wait for a status
		// and a scrape taken while the kernel's counters stood still (the
		// last FINs may be counted in the next period) that equal them. The
		// bound is many periods.
		var last string
		eventually(t, 30*time.Second, "status and metrics show ipvsadm's counters", func() (bool, error) {
			before, err := readIPVSStats(l.dir)
			if err != nil {
				return false, err
			}
			st, err := d.status()
			if err != nil {
				return false, err
			}
			got, err := statusStats(st.LVS)
			if err != nil {
				return false, err
			}
			metrics, err := scrape(l.dir, metricsAddr)
			if err != nil {
				return false, err
			}
			after, err := readIPVSStats(l.dir)
			if err != nil {
				return false, err
			}
			if !maps.Equal(before, after) {
				return false, fmt.Errorf("the kernel's counters moved while reading")
			}
			if !maps.Equal(got, after) {
				return false, fmt.Errorf("status differs from ipvsadm:\nstatus  %v\nipvsadm %v", got, after)
			}
			for _, vs := range st.LVS.VirtualServers {
				g := vsNameRE.FindStringSubmatch(vs.Name)
				k := after[fmt.Sprintf("TCP %s:%s", g[1], g[3])]
				labels := fmt.Sprintf(`{addr=%q,proto=%q}`, vs.Name, vs.Protocol)
				for name, want := range map[string]uint64{
					"keepalived_lvs_vip_conn": k.Conns, "keepalived_lvs_vip_in_packets": k.InPkts,
					"keepalived_lvs_vip_out_packets": k.OutPkts, "keepalived_lvs_vip_in_bytes": k.InBytes,
					"keepalived_lvs_vip_out_bytes": k.OutBytes,
				} {
					if v, ok := metrics[name+labels]; !ok || uint64(v) != want {
						return false, fmt.Errorf("%s%s = %v (present %v), ipvsadm %d", name, labels, v, ok, want)
					}
				}
				for _, rs := range vs.Reals {
					k := after[fmt.Sprintf("TCP %s:%s -> %s", g[1], g[3], rs.Addr)]
					labels := fmt.Sprintf(`{addr=%q,proto=%q,vs=%q}`, rs.Addr, vs.Protocol, vs.Name)
					for name, want := range map[string]uint64{
						"keepalived_lvs_rs_conn": k.Conns, "keepalived_lvs_rs_in_packets": k.InPkts,
						"keepalived_lvs_rs_out_packets": k.OutPkts, "keepalived_lvs_rs_in_bytes": k.InBytes,
						"keepalived_lvs_rs_out_bytes": k.OutBytes,
					} {
						if v, ok := metrics[name+labels]; !ok || uint64(v) != want {
							return false, fmt.Errorf("%s%s = %v (present %v), ipvsadm %d", name, labels, v, ok, want)
						}
					}
				}
			}
			last = fmt.Sprintf("%v", after)
			return true, nil
		})
		t.Logf("status and metrics equal ipvsadm's counters: %s", last)
	})

	// A clean stop removes every service Vigil added.
	if err := d.proc.Stop(); err != nil {
		t.Errorf("vigil exited with %v on SIGTERM", err)
	}
	if table, err := ipvsTable(l.dir); err != nil || services(table) != 0 {
		t.Errorf("services left after a clean stop (%v):\n%s", err, table)
	}
}
