package e2e

// Interoperability of Vigil with keepalived 2.2.7 on the wire: one Vigil and
// one keepalived on the same VRID and bridge, plus a client, for each VRRP
// flavour Vigil speaks. The VIP must end up on exactly one node, the other
// in BACKUP, in both directions of the priority order, and either daemon
// must take over when the other stops or dies.

import (
	"fmt"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// Addresses, names, priorities and time bounds of the interop tests.
const (
	iopVigilAddr  = "10.77.0.2"
	iopKaAddr     = "10.77.0.3"
	iopVIP4       = "10.77.0.100"
	iopVIP6       = "fd00:77::100"
	iopPort       = 7070 // ServeName port on both VRRP nodes
	iopInstance   = "VI_1"
	iopPassword   = "s3cret"
	iopElectTime  = 12 * time.Second // bound for a first election: master down interval (about 3.6 s) and slack
	iopPrioHigh   = 150
	iopPrioLow    = 100
	iopStableTime = 3 * time.Second // a result must hold this long (several advert intervals)
)

// iopLab is the interop network: Vigil on "vigil", keepalived on "ka", and a
// client, each with an IPv4 and an IPv6 address on one bridge. Both VRRP
// nodes answer on iopPort with their name, so the client can tell which
// one the VIP leads to.
type iopLab struct {
	vigil, ka, client *netlab.Host
	nodes             []*netlab.Host
}

// newIOPLab builds the interop network, skipping the test when keepalived
// is not available.
func newIOPLab(t *testing.T) iopLab {
	t.Helper()
	needKeepalived(t)
	l := netlab.New(t)
	lab := iopLab{
		vigil:  l.AddHost("vigil", iopVigilAddr+"/24", "fd00:77::2/64"),
		ka:     l.AddHost("ka", iopKaAddr+"/24", "fd00:77::3/64"),
		client: l.AddHost("client", "10.77.0.9/24", "fd00:77::9/64"),
	}
	lab.nodes = []*netlab.Host{lab.vigil, lab.ka}
	lab.vigil.ServeName(t, iopPort)
	lab.ka.ServeName(t, iopPort)
	return lab
}

// iopFlavour is one way of running VRRP that both daemons must agree on.
type iopFlavour struct {
	name      string
	vip       string // the virtual address, without prefix length
	plen      int
	version   int  // 0: the default (2)
	pass      bool // v2 PASS authentication
	unicast   bool // unicast peers instead of multicast
	advertInt string
}

// iopFlavours are the wire formats under test.
var iopFlavours = []iopFlavour{
	{name: "v2_pass_ipv4", vip: iopVIP4, plen: 24, pass: true, advertInt: "1"},
	{name: "v3_ipv4", vip: iopVIP4, plen: 24, version: 3, advertInt: "1"},
	{name: "v3_ipv6", vip: iopVIP6, plen: 64, version: 3, advertInt: "1"},
	{name: "v2_unicast", vip: iopVIP4, plen: 24, pass: true, unicast: true, advertInt: "1"},
}

// instances returns the vrrp_instance of the Vigil node and of the
// keepalived node, identical but for priority and (unicast) addresses.
func (f iopFlavour) instances(vigilPrio, kaPrio int) (vigil, ka Instance) {
	in := Instance{
		Name:      iopInstance,
		VRID:      51,
		AdvertInt: f.advertInt,
		Version:   f.version,
		VIPs:      []string{fmt.Sprintf("%s/%d", f.vip, f.plen)},
	}
	if f.pass {
		in.Extra = iopPassAuth(iopPassword)
	}
	vigil, ka = in, in
	vigil.Priority, ka.Priority = vigilPrio, kaPrio
	if f.unicast {
		vigil.UnicastSrc, vigil.Peers = iopVigilAddr, []string{iopKaAddr}
		ka.UnicastSrc, ka.Peers = iopKaAddr, []string{iopVigilAddr}
	}
	return vigil, ka
}

// iopSide is one node of an election test: its host, how to start its
// daemon, and the daemon once started.
type iopSide struct {
	host  *netlab.Host
	label string
	start func() vrrpStater
	st    vrrpStater
}

// TestInteropElection runs Vigil against keepalived for each flavour, in
// both priority orders. The lower priority node starts alone and becomes
// master; then the higher one starts and must take the VIP over: the lower
// one accepts its adverts (it goes to BACKUP and stays there), the higher
// one ignores the lower one's. The client must reach the winner.
func TestInteropElection(t *testing.T) {
	for _, f := range iopFlavours {
		for _, vigilWins := range []bool{true, false} {
			name := f.name + "/keepalived_wins"
			if vigilWins {
				name = f.name + "/vigil_wins"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				lab := newIOPLab(t)
				vp, kp := iopPrioLow, iopPrioHigh
				if vigilWins {
					vp, kp = kp, vp
				}
				vi, ki := f.instances(vp, kp)
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
				WaitServedBy(t, 5*time.Second, lab.client, f.vip, iopPort, low.host)

				high.st = high.start()
				WaitVIP(t, iopElectTime, lab.nodes, "eth0", f.vip, high.host)
				WaitVRRPState(t, 2*time.Second, high.label, high.st, iopInstance, "MASTER")
				WaitVRRPState(t, 2*time.Second, low.label, low.st, iopInstance, "BACKUP")
				WaitServedBy(t, 5*time.Second, lab.client, f.vip, iopPort, high.host)

				// The lower priority node keeps accepting the master's
				// adverts: were it not, its master down timer (3 intervals
				// and a skew) would make it master again within this time.
				Never(t, iopStableTime+time.Second, f.vip+" back on "+low.label, func() (bool, error) {
					return HasAddr(low.host, "eth0", f.vip)
				})
				if got := low.st.VRRPState(iopInstance); got != "BACKUP" {
					t.Fatalf("%s: state %s, want BACKUP", low.label, got)
				}

				// Each iopSide decoded the other's adverts, priority included:
				// the winner saw the loser's priority, the loser the winner's.
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
				iopCheckCleanWire(t, v, k)
			})
		}
	}
}

// TestInteropTakeover stops the master (Vigil or keepalived) and checks the
// other takes over: at once on a clean stop, which sends priority 0, and
// only after the master down interval when the master is killed. The
// priorities are chosen so that the survivor is the backup (priority 100)
// facing a master of priority 150.
func TestInteropTakeover(t *testing.T) {
	tests := []struct {
		name        string
		vigilMaster bool
		kill        bool   // SIGKILL instead of a clean stop
		advertInt   string // seconds
	}{
		// advert_int 2 for clean stops leaves a wide gap between a priority
		// 0 takeover (the skew time, 0.6 s) and a timer one (at least
		// 3*2+0.6-2 s after the stop).
		{name: "vigil_sigterm", vigilMaster: true, advertInt: "2"},
		{name: "keepalived_sigterm", vigilMaster: false, advertInt: "2"},
		{name: "vigil_sigkill", vigilMaster: true, kill: true, advertInt: "1"},
		{name: "keepalived_sigkill", vigilMaster: false, kill: true, advertInt: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lab := newIOPLab(t)
			f := iopFlavour{vip: iopVIP4, plen: 24, pass: true, advertInt: tt.advertInt}
			vp, kp := iopPrioLow, iopPrioHigh
			if tt.vigilMaster {
				vp, kp = kp, vp
			}
			vi, ki := f.instances(vp, kp)
			// The master starts first and wins alone; the backup then has
			// to accept its adverts to stay backup.
			var (
				v                  *Vigil
				k                  *Keepalived
				master, backup     *netlab.Host
				masterSt, backupSt vrrpStater
			)
			if tt.vigilMaster {
				master, backup = lab.vigil, lab.ka
				v = StartVigil(t, lab.vigil, Conf(nil, vi))
				WaitVIP(t, iopElectTime, lab.nodes, "eth0", f.vip, master)
				k = StartKeepalived(t, lab.ka, Conf(nil, ki))
				masterSt, backupSt = v, k
			} else {
				master, backup = lab.ka, lab.vigil
				k = StartKeepalived(t, lab.ka, Conf(nil, ki))
				WaitVIP(t, iopElectTime, lab.nodes, "eth0", f.vip, master)
				v = StartVigil(t, lab.vigil, Conf(nil, vi))
				masterSt, backupSt = k, v
			}
			WaitVRRPState(t, 5*time.Second, master.String(), masterSt, iopInstance, "MASTER")
			WaitVRRPState(t, 5*time.Second, backup.String(), backupSt, iopInstance, "BACKUP")
			// Longer than the backup's master down interval: the backup
			// has adopted the master, or it would have taken the VIP.
			adv, err := time.ParseDuration(tt.advertInt + "s")
			if err != nil {
				t.Fatal(err)
			}
			Never(t, 3*adv+time.Second, f.vip+" on the backup", func() (bool, error) {
				return HasAddr(backup, "eth0", f.vip)
			})
			WaitServedBy(t, 5*time.Second, lab.client, f.vip, iopPort, master)

			stopped := time.Now()
			switch {
			case tt.kill && tt.vigilMaster:
				v.Kill()
			case tt.kill:
				k.Kill()
			case tt.vigilMaster:
				if err := v.Stop(); err != nil {
					t.Fatalf("vigil did not stop cleanly: %v", err)
				}
			default:
				k.Terminate(t)
			}

			// A killed master leaves its VIP behind, so only the backup is
			// watched; after a clean stop the VIP must be on the backup only.
			var took time.Time
			if tt.kill {
				took = Eventually(t, 3*adv+8*time.Second, f.vip+" on the backup", func() (bool, error) {
					return HasAddr(backup, "eth0", f.vip)
				})
			} else {
				took = WaitVIP(t, 3*adv+8*time.Second, lab.nodes, "eth0", f.vip, backup)
			}
			elapsed := took.Sub(stopped)
			t.Logf("backup took over %v after the master was stopped", elapsed.Round(time.Millisecond))
			WaitServedBy(t, 5*time.Second, lab.client, f.vip, iopPort, backup)

			// The master down interval is 3*advert_int plus a skew time of
			// 0.6 s, counted from the last advert, which came at most one
			// interval before the stop.
			minTimer := 3*adv + 600*time.Millisecond - adv
			if tt.kill {
				if elapsed < minTimer-300*time.Millisecond {
					t.Errorf("takeover %v after a SIGKILL: before the master down interval (at least %v)", elapsed, minTimer)
				}
			} else if elapsed >= minTimer-300*time.Millisecond {
				t.Errorf("takeover %v after a clean stop: no faster than the master down timer (priority 0 not acted on?)", elapsed)
			}

			// The survivor's log says why it took over.
			var why error
			switch {
			case tt.vigilMaster && tt.kill:
				why = iopLogHas(k.Daemon, "("+iopInstance+") Receive advertisement timeout")
			case tt.vigilMaster:
				why = iopLogHas(k.Daemon, "("+iopInstance+") Backup received priority 0 advertisement")
			case tt.kill:
				why = iopLogHas(v.Daemon, transitionMsg, "to=MASTER", "master down timer expired")
			default:
				why = iopLogHas(v.Daemon, transitionMsg, "to=MASTER", "master "+iopKaAddr+" sent priority 0")
			}
			if why != nil {
				t.Error(why)
			}
			WaitVRRPState(t, 2*time.Second, backup.String(), backupSt, iopInstance, "MASTER")
			iopCheckCleanWire(t, v, k)
		})
	}
}

// TestInteropWrongPassword runs both daemons with different PASS passwords.
// Each must drop the other's adverts, so both become master: a split brain,
// which is what mismatched authentication means in VRRP v2, and what
// keepalived does too. Vigil has the lower priority, so adopting even one of
// keepalived's adverts would send it to BACKUP; it must log why it drops them.
func TestInteropWrongPassword(t *testing.T) {
	t.Parallel()
	lab := newIOPLab(t)
	f := iopFlavour{vip: iopVIP4, plen: 24, pass: true, advertInt: "1"}
	vi, ki := f.instances(iopPrioLow, iopPrioHigh)
	ki.Extra = iopPassAuth("other1")
	k := StartKeepalived(t, lab.ka, Conf(nil, ki))
	v := StartVigil(t, lab.vigil, Conf(nil, vi))

	Eventually(t, iopElectTime, f.vip+" on both nodes", func() (bool, error) {
		got, err := Holders(lab.nodes, "eth0", f.vip)
		return len(got) == 2, fmt.Errorf("held by %v (err %v)", got, err)
	})
	WaitVRRPState(t, 2*time.Second, "vigil", v, iopInstance, "MASTER")
	WaitVRRPState(t, 2*time.Second, "keepalived", k, iopInstance, "MASTER")
	Eventually(t, 5*time.Second, "both sides log the password mismatch", func() (bool, error) {
		if err := iopLogHas(v.Daemon, `msg="advert dropped"`, "reason=auth", "src="+iopKaAddr); err != nil {
			return false, err
		}
		if err := iopLogHas(k.Daemon, "("+iopInstance+") received an invalid passwd!"); err != nil {
			return false, err
		}
		return true, nil
	})
	// Both keep advertising and neither adopts the other's adverts.
	Never(t, iopStableTime, "a node dropping "+f.vip, func() (bool, error) {
		got, err := Holders(lab.nodes, "eth0", f.vip)
		return len(got) != 2, err
	})
	if got := v.VRRPState(iopInstance); got != "MASTER" {
		t.Errorf("vigil: state %s, want MASTER", got)
	}
	if got := k.VRRPState(iopInstance); got != "MASTER" {
		t.Errorf("keepalived: state %s, want MASTER", got)
	}
	if err := iopLogHas(k.Daemon, "("+iopInstance+") Received advert from", "with lower priority"); err == nil {
		t.Errorf("keepalived accepted an advert from vigil despite the wrong password")
	}
}
