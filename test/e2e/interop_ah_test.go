package e2e

// Interoperability of VRRPv2 AH authentication (auth_type AH: the advert in
// an IPsec AH header, HMAC-MD5-96 keyed by auth_pass) between Vigil and
// keepalived 2.2.7: each must accept the other's adverts, in both priority
// orders, multicast and unicast, and across a clean stop of the master; with
// different keys each must reject the other's.

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// iopAHAuth returns the authentication block of a v2 instance with AH, as
// Instance.Extra lines.
func iopAHAuth(pass string) []string {
	return []string{"authentication {", "    auth_type AH", "    auth_pass " + pass, "}"}
}

// keepalivedAHErrors are the messages keepalived 2.2.7 logs when it rejects
// an AH advert: a wrong ICV, an SPI that is not the source, a sequence
// number it has seen, or a packet with or without AH against its setting.
var keepalivedAHErrors = []string{
	"IPSEC-AH : invalid",
	"IPSEC AH : invalid",
	"already processed",
	"No AH header but auth type is AH",
	"Received AH header but auth type not AH",
}

// iopAHCheckCleanWire is iopCheckCleanWire plus keepalived's AH rejections.
func iopAHCheckCleanWire(t *testing.T, v *Vigil, k *Keepalived) {
	t.Helper()
	iopCheckCleanWire(t, v, k)
	for _, l := range strings.Split(k.Log(), "\n") {
		for _, e := range keepalivedAHErrors {
			if strings.Contains(l, e) {
				t.Errorf("keepalived rejected an AH advert from vigil: %s", l)
			}
		}
	}
}

// TestInteropAHElection runs Vigil against keepalived with AH, multicast and
// unicast, in both priority orders. The lower priority node starts alone
// and becomes master; the higher one starts, must take over (its adverts
// verified by the lower one, which goes to BACKUP and stays there) and then
// stops cleanly: its priority 0 advert, AH sealed with the next sequence
// number, must hand the VIP back at once.
func TestInteropAHElection(t *testing.T) {
	for _, unicast := range []bool{false, true} {
		for _, vigilWins := range []bool{true, false} {
			name := "multicast"
			if unicast {
				name = "unicast"
			}
			if vigilWins {
				name += "/vigil_wins"
			} else {
				name += "/keepalived_wins"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				lab := newIOPLab(t)
				f := iopFlavour{vip: iopVIP4, plen: 24, unicast: unicast, advertInt: "1"}
				vp, kp := iopPrioLow, iopPrioHigh
				if vigilWins {
					vp, kp = kp, vp
				}
				vi, ki := f.instances(vp, kp)
				vi.Extra, ki.Extra = iopAHAuth(iopPassword), iopAHAuth(iopPassword)
				var (
					v *Vigil
					k *Keepalived
				)
				vigil := iopSide{host: lab.vigil, label: "vigil", start: func() vrrpStater {
					v = StartVigil(t, lab.vigil, Conf(nil, vi))
					return v
				}}
				ka := iopSide{host: lab.ka, label: "keepalived", start: func() vrrpStater {
					k = StartKeepalived(t, lab.ka, Conf(nil, ki))
					return k
				}}
				high, low := &ka, &vigil
				if vigilWins {
					high, low = &vigil, &ka
				}

				low.st = low.start()
				WaitVIP(t, iopElectTime, lab.nodes, "eth0", f.vip, low.host)
				WaitVRRPState(t, 2*time.Second, low.label, low.st, iopInstance, "MASTER")

				high.st = high.start()
				WaitVIP(t, iopElectTime, lab.nodes, "eth0", f.vip, high.host)
				WaitVRRPState(t, 2*time.Second, high.label, high.st, iopInstance, "MASTER")
				WaitVRRPState(t, 2*time.Second, low.label, low.st, iopInstance, "BACKUP")
				WaitServedBy(t, 5*time.Second, lab.client, f.vip, iopPort, high.host)
				// Longer than the master down interval: the backup keeps
				// verifying the master's adverts, or it would take over.
				Never(t, iopStableTime+time.Second, f.vip+" back on "+low.label, func() (bool, error) {
					return HasAddr(low.host, "eth0", f.vip)
				})

				// Both read the other's priority out of verified adverts.
				var evidence []error
				if vigilWins {
					evidence = []error{
						iopLogHas(v.Daemon, transitionMsg, "to=MASTER", fmt.Sprintf("preempting lower priority %d master", iopPrioLow)),
						iopLogHas(k.Daemon, "("+iopInstance+") Master received advert from", fmt.Sprintf("with higher priority %d, ours %d", iopPrioHigh, iopPrioLow)),
					}
				} else {
					evidence = []error{
						iopLogHas(k.Daemon, fmt.Sprintf("(%s) received lower priority (%d) advert from", iopInstance, iopPrioLow)),
						iopLogHas(v.Daemon, transitionMsg, "to=BACKUP", fmt.Sprintf("higher priority %d from", iopPrioHigh)),
					}
				}
				for _, err := range evidence {
					if err != nil {
						t.Error(err)
					}
				}

				// A clean stop of the master: the backup acts on its
				// priority 0 advert well before its master down timer
				// (3 s + skew) would have fired.
				stopped := time.Now()
				if vigilWins {
					if err := v.Stop(); err != nil {
						t.Fatalf("vigil did not stop cleanly: %v", err)
					}
				} else {
					k.Terminate(t)
				}
				took := WaitVIP(t, 10*time.Second, lab.nodes, "eth0", f.vip, low.host)
				if elapsed := took.Sub(stopped); elapsed > 2500*time.Millisecond {
					t.Errorf("backup took over %v after a clean stop: the priority 0 advert was not accepted", elapsed)
				}
				if vigilWins {
					if err := iopLogHas(k.Daemon, "("+iopInstance+") Backup received priority 0 advertisement"); err != nil {
						t.Error(err)
					}
				} else if err := iopLogHas(v.Daemon, transitionMsg, "to=MASTER", "master "+iopKaAddr+" sent priority 0"); err != nil {
					t.Error(err)
				}
				iopAHCheckCleanWire(t, v, k)
			})
		}
	}
}

// TestInteropAHWrongKey runs both daemons with AH and different keys. Each
// must reject the other's adverts, so both become master; Vigil, with the
// lower priority, would go to BACKUP on a single accepted advert. Vigil logs
// each drop with reason auth (a warning, so no -D is needed) and keepalived
// its ICV failure.
func TestInteropAHWrongKey(t *testing.T) {
	for _, unicast := range []bool{false, true} {
		name := "multicast"
		if unicast {
			name = "unicast"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := newIOPLab(t)
			f := iopFlavour{vip: iopVIP4, plen: 24, unicast: unicast, advertInt: "1"}
			vi, ki := f.instances(iopPrioLow, iopPrioHigh)
			vi.Extra, ki.Extra = iopAHAuth(iopPassword), iopAHAuth("other1")
			k := StartKeepalived(t, lab.ka, Conf(nil, ki))
			v := StartVigil(t, lab.vigil, Conf(nil, vi))

			Eventually(t, iopElectTime, f.vip+" on both nodes", func() (bool, error) {
				got, err := Holders(lab.nodes, "eth0", f.vip)
				return len(got) == 2, fmt.Errorf("held by %v (err %v)", got, err)
			})
			WaitVRRPState(t, 2*time.Second, "vigil", v, iopInstance, "MASTER")
			WaitVRRPState(t, 2*time.Second, "keepalived", k, iopInstance, "MASTER")
			Eventually(t, 5*time.Second, "both sides log the key mismatch", func() (bool, error) {
				if err := iopLogHas(v.Daemon, `msg="advert dropped"`, "reason=auth", "src="+iopKaAddr, "ICV does not verify"); err != nil {
					return false, err
				}
				if err := iopLogHas(k.Daemon, "("+iopInstance+") IPSEC-AH : invalid IPSEC HMAC-MD5 value"); err != nil {
					return false, err
				}
				return true, nil
			})
			Never(t, iopStableTime, "a node dropping "+f.vip, func() (bool, error) {
				got, err := Holders(lab.nodes, "eth0", f.vip)
				return len(got) != 2, err
			})
			for _, d := range []struct {
				label string
				st    vrrpStater
			}{{"vigil", v}, {"keepalived", k}} {
				if got := d.st.VRRPState(iopInstance); got != "MASTER" {
					t.Errorf("%s: state %s, want MASTER", d.label, got)
				}
			}
			if err := iopLogHas(k.Daemon, "("+iopInstance+") Received advert from", "with lower priority"); err == nil {
				t.Errorf("keepalived accepted an advert from vigil despite the wrong key")
			}
			// Vigil keeps rejecting keepalived's adverts: its count of auth
			// drops (status --json) must go on growing. keepalived, as a
			// master, starts its advert interval again on every packet it
			// receives, valid or not, so while Vigil's adverts arrive once
			// a second it sends only when one comes late: at a rate set by
			// Vigil's jitter, unbounded. Silence Vigil's AH adverts (a drop
			// rule on its output) and keepalived sends every second; wait
			// for the drops that follows, then let Vigil speak again.
			before := ahAuthDrops(t, lab.vigil, v)
			ahSilence(t, lab.vigil, true)
			Eventually(t, 15*time.Second, "vigil dropping more of keepalived's adverts", func() (bool, error) {
				n := ahAuthDrops(t, lab.vigil, v)
				return n >= before+2, fmt.Errorf("%d auth drops counted, %d before", n, before)
			})
			ahSilence(t, lab.vigil, false)
			st, err := opsStatusJSON(lab.vigil, v)
			if err != nil {
				t.Fatal(err)
			}
			if in, _ := st.find(iopInstance); in.State != "MASTER" || in.Counters["adverts_rx"] != 0 {
				t.Errorf("vigil: state %s with %d adverts accepted, want MASTER with none", in.State, in.Counters["adverts_rx"])
			}
		})
	}
}

// ahAuthDrops returns the auth drops of iopInstance in Vigil's
// `status --json`.
func ahAuthDrops(t *testing.T, h *netlab.Host, v *Vigil) uint64 {
	t.Helper()
	st, err := opsStatusJSON(h, v)
	if err != nil {
		t.Fatalf("vigil status: %v", err)
	}
	in, ok := st.find(iopInstance)
	if !ok {
		t.Fatalf("vigil status: no instance %s", iopInstance)
	}
	return in.Drops["auth"]
}

// ahSilenceTable is the nftables table ahSilence adds in a test's namespace.
const ahSilenceTable = "e2e_ah_silence"

// ahSilence drops (or stops dropping) the IPsec AH packets h sends, so that
// its peers hear nothing from it while it still receives theirs. The table
// lives in h's namespace only and goes with it.
func ahSilence(t *testing.T, h *netlab.Host, on bool) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skipf("e2e: nft(8) is needed to silence a node: %v; skipping", err)
	}
	cmds := [][]string{{"delete", "table", "ip", ahSilenceTable}}
	if on {
		cmds = [][]string{
			{"add", "table", "ip", ahSilenceTable},
			{"add", "chain", "ip", ahSilenceTable, "out", "{ type filter hook output priority 0 ; }"},
			{"add", "rule", "ip", ahSilenceTable, "out", "ip", "protocol", "ah", "drop"},
		}
	}
	for _, c := range cmds {
		if out, err := hsRun(h, "nft", c...); err != nil {
			t.Fatalf("nft %v: %v: %s", c, err, out)
		}
	}
}
