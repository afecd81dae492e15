package transport

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const wait = 5 * time.Second

func TestListenErrors(t *testing.T) {
	tests := []struct {
		name   string
		ifname string
		family int
		want   string
	}{
		{"family 5", "lo", 5, "family 5"},
		{"family 0", "lo", 0, "family 0"},
		{"no such interface", "vigil-nonexistent0", 4, "vigil-nonexistent0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Listen(tt.ifname, tt.family)
			if err == nil {
				c.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// checkMeta compares what the IP layer reported with what was sent.
func checkMeta(t *testing.T, got Meta, src, dst netip.Addr, ttl, ifindex int) {
	t.Helper()
	want := Meta{Src: src, Dst: dst, TTL: ttl, IfIndex: ifindex}
	if got != want {
		t.Errorf("meta = %+v, want %+v", got, want)
	}
}

func TestIPv4(t *testing.T) {
	p := newVethPair(t)
	a, b := listenIn(t, p.nsA, "va", 4), listenIn(t, p.nsB, "vb", 4)
	for _, c := range []*Conn{a, b} {
		if err := c.JoinGroup(Group4); err != nil {
			t.Fatal(err)
		}
	}
	ma, mb := runMux(t, a), runMux(t, b)
	v2 := readGolden(t, "keepalived_v2_pass.hex")          // VRID 51, multicast
	v3 := readGolden(t, "keepalived_v3_ipv4.hex")          // VRID 52, multicast
	v3u := readGolden(t, "keepalived_v3_ipv4_unicast.hex") // VRID 54, 10.77.0.1 -> 10.77.0.2
	chA51, _ := ma.Subscribe(51, 16)
	chB51, _ := mb.Subscribe(51, 16)
	chB52, _ := mb.Subscribe(52, 16)
	chB54, _ := mb.Subscribe(54, 16)

	tests := []struct {
		name string
		g    goldenPacket
		ch   <-chan Received
	}{
		{"v2 multicast", v2, chB51},
		{"v3 multicast", v3, chB52},
		{"v3 unicast", v3u, chB54},
		{"v2 unicast", goldenPacket{src: addrA4, dst: addrB4, payload: v2.payload}, chB51},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.WriteTo(tt.g.payload, tt.g.src, tt.g.dst); err != nil {
				t.Fatal(err)
			}
			r := recv(t, tt.ch, wait, tt.name)
			if !bytes.Equal(r.Payload, tt.g.payload) {
				t.Errorf("payload %x, want %x", r.Payload, tt.g.payload)
			}
			checkMeta(t, r.Meta, tt.g.src, tt.g.dst, 255, p.idxB)
		})
	}

	t.Run("send allocates nothing", func(t *testing.T) {
		// A master of hundreds of instances sends thousands of adverts a
		// second: garbage per send would make the collector run for them.
		if raceEnabled {
			t.Skip("allocation counts are meaningless under the race detector")
		}
		var err error
		allocs := testing.AllocsPerRun(50, func() { err = a.WriteTo(v3.payload, addrA4, Group4) })
		if err != nil {
			t.Fatal(err)
		}
		if allocs != 0 {
			t.Errorf("WriteTo allocates %.1f times per send, want 0", allocs)
		}
	})

	t.Run("unknown VRID counted", func(t *testing.T) {
		before := mb.UnknownVRID()
		other := bytes.Clone(v2.payload)
		other[1] = 99 // the checksum is wrong now; the Mux does not look
		if err := a.WriteTo(other, addrA4, Group4); err != nil {
			t.Fatal(err)
		}
		// One link, one sender: once this one arrives, the one before has
		// been dispatched.
		if err := a.WriteTo(v2.payload, addrA4, Group4); err != nil {
			t.Fatal(err)
		}
		recv(t, chB51, wait, "VRID 51 after VRID 99")
		if got := mb.UnknownVRID() - before; got != 1 {
			t.Fatalf("UnknownVRID grew by %d, want 1", got)
		}
	})

	t.Run("unicast TTL", func(t *testing.T) {
		if err := a.SetUnicastTTL(64); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.SetUnicastTTL(255) })
		if err := a.WriteTo(v2.payload, addrA4, addrB4); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, chB51, wait, "unicast"); r.TTL != 64 {
			t.Errorf("unicast TTL %d, want 64", r.TTL)
		}
		if err := a.WriteTo(v2.payload, addrA4, Group4); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, chB51, wait, "multicast"); r.TTL != 255 {
			t.Errorf("multicast TTL %d, want 255 whatever the unicast TTL", r.TTL)
		}
		if err := a.SetUnicastTTL(0); err == nil {
			t.Error("SetUnicastTTL(0) accepted")
		}
	})

	t.Run("no multicast loopback", func(t *testing.T) {
		// A sent several multicast adverts above. Had any looped back, it
		// would be queued on A before this reply from B.
		if err := b.WriteTo(v2.payload, addrB4, Group4); err != nil {
			t.Fatal(err)
		}
		r := recv(t, chA51, wait, "reply from B")
		if r.Src != addrB4 {
			t.Fatalf("A received a packet from %v first, want only B's (%v): its own came back", r.Src, addrB4)
		}
		checkMeta(t, r.Meta, addrB4, Group4, 255, p.idxA)
	})

	t.Run("leave group", func(t *testing.T) {
		if err := a.LeaveGroup(Group4); err != nil {
			t.Fatal(err)
		}
		before := ma.Stats().Read
		if err := b.WriteTo(v2.payload, addrB4, Group4); err != nil {
			t.Fatal(err)
		}
		// Unicast still arrives, and proves the multicast one (sent first)
		// has been and gone.
		if err := b.WriteTo(v2.payload, addrB4, addrA4); err != nil {
			t.Fatal(err)
		}
		r := recv(t, chA51, wait, "unicast after leaving")
		if r.Dst != addrA4 {
			t.Fatalf("got a packet to %v, want the unicast one to %v", r.Dst, addrA4)
		}
		if got := ma.Stats().Read - before; got != 1 {
			t.Fatalf("A read %d packets after leaving the group, want 1", got)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		cases := []struct {
			name string
			err  error
		}{
			{"join unicast", a.JoinGroup(addrB4)},
			{"join IPv6 group", a.JoinGroup(Group6)},
			{"leave unicast", a.LeaveGroup(addrB4)},
			{"send to IPv6", a.WriteTo(v2.payload, addrA4, addrB6)},
			{"send from IPv6", a.WriteTo(v2.payload, addrA6, addrB4)},
			{"send to nothing", a.WriteTo(v2.payload, addrA4, netip.Addr{})},
		}
		for _, c := range cases {
			if c.err == nil {
				t.Errorf("%s: accepted", c.name)
			}
		}
	})
}

func TestIPv6(t *testing.T) {
	p := newVethPair(t)
	a, b := listenIn(t, p.nsA, "va", 6), listenIn(t, p.nsB, "vb", 6)
	for _, c := range []*Conn{a, b} {
		if err := c.JoinGroup(Group6); err != nil {
			t.Fatal(err)
		}
	}
	ma, mb := runMux(t, a), runMux(t, b)
	mc := readGolden(t, "keepalived_v3_ipv6.hex")  // VRID 53, link-local -> ff02::12
	uc := readGolden(t, "rfc_v3_ipv6_unicast.hex") // VRID 7, fd00::1 -> fd00::2
	if mc.src != p.llA {
		t.Fatalf("side A's link-local address is %v, the golden packet's source %v", p.llA, mc.src)
	}
	chA53, _ := ma.Subscribe(53, 16)
	chB53, _ := mb.Subscribe(53, 16)
	chB7, _ := mb.Subscribe(7, 16)

	// A payload with a broken checksum must arrive as sent: the kernel
	// neither fixes nor drops it, the codec decides.
	broken := bytes.Clone(mc.payload)
	broken[6] ^= 0xff

	tests := []struct {
		name     string
		payload  []byte
		src, dst netip.Addr
		ch       <-chan Received
	}{
		{"multicast from link-local", mc.payload, mc.src, mc.dst, chB53},
		{"unicast", uc.payload, uc.src, uc.dst, chB7},
		{"unicast to link-local", mc.payload, p.llA, p.llB, chB53},
		{"checksum left alone", broken, mc.src, mc.dst, chB53},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.WriteTo(tt.payload, tt.src, tt.dst); err != nil {
				t.Fatal(err)
			}
			r := recv(t, tt.ch, wait, tt.name)
			if !bytes.Equal(r.Payload, tt.payload) {
				t.Errorf("payload %x, want %x", r.Payload, tt.payload)
			}
			checkMeta(t, r.Meta, tt.src, tt.dst, 255, p.idxB)
		})
	}

	t.Run("unknown VRID counted", func(t *testing.T) {
		before := mb.UnknownVRID()
		other := bytes.Clone(mc.payload)
		other[1] = 99
		if err := a.WriteTo(other, mc.src, mc.dst); err != nil {
			t.Fatal(err)
		}
		if err := a.WriteTo(mc.payload, mc.src, mc.dst); err != nil {
			t.Fatal(err)
		}
		recv(t, chB53, wait, "VRID 53 after VRID 99")
		if got := mb.UnknownVRID() - before; got != 1 {
			t.Fatalf("UnknownVRID grew by %d, want 1", got)
		}
	})

	t.Run("unicast hop limit", func(t *testing.T) {
		if err := a.SetUnicastTTL(7); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.SetUnicastTTL(255) })
		if err := a.WriteTo(uc.payload, uc.src, uc.dst); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, chB7, wait, "unicast"); r.TTL != 7 {
			t.Errorf("unicast hop limit %d, want 7", r.TTL)
		}
		if err := a.WriteTo(mc.payload, mc.src, mc.dst); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, chB53, wait, "multicast"); r.TTL != 255 {
			t.Errorf("multicast hop limit %d, want 255", r.TTL)
		}
	})

	t.Run("no multicast loopback", func(t *testing.T) {
		if err := b.WriteTo(mc.payload, p.llB, Group6); err != nil {
			t.Fatal(err)
		}
		r := recv(t, chA53, wait, "reply from B")
		if r.Src != p.llB {
			t.Fatalf("A received a packet from %v first, want only B's (%v): its own came back", r.Src, p.llB)
		}
		checkMeta(t, r.Meta, p.llB, Group6, 255, p.idxA)
	})

	t.Run("bad arguments", func(t *testing.T) {
		cases := []struct {
			name string
			err  error
		}{
			{"join unicast", a.JoinGroup(addrB6)},
			{"join IPv4 group", a.JoinGroup(Group4)},
			{"send to IPv4", a.WriteTo(mc.payload, mc.src, addrB4)},
			{"send to mapped IPv4", a.WriteTo(mc.payload, mc.src, netip.AddrFrom16(addrB4.As16()))},
		}
		for _, c := range cases {
			if c.err == nil {
				t.Errorf("%s: accepted", c.name)
			}
		}
	})
}

// TestCloseStopsMux checks that closing the Conn ends Run without error.
func TestCloseStopsMux(t *testing.T) {
	p := newVethPair(t)
	c := listenIn(t, p.nsB, "vb", 4)
	m := NewMux(c, nil)
	done := make(chan error, 1)
	go func() { done <- m.Run(t.Context()) }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after Close")
	}
}
