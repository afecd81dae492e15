package ipvs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// readHex reads a testdata/messages .hex file: hex bytes, with '#' starting
// a comment that runs to the end of the line.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "messages", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func littleEndianOnly(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the golden messages are written for a little-endian host")
	}
}

var (
	tcp4 = dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	gue  = dataplane.Destination{
		Key:            dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 443},
		Forwarding:     dataplane.Forwarding{Method: dataplane.Tunnel, TunnelType: dataplane.GUE, TunnelPort: 6080, TunnelChecksum: dataplane.RemoteChecksum},
		Weight:         5,
		UpperThreshold: 100,
		LowerThreshold: 10,
	}
	persistent = dataplane.Service{Key: tcp4, Scheduler: "wrr", Persistence: 300 * time.Second, PersistenceBits: 24}
)

func marshal(t *testing.T, m genetlink.Message, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRequestGolden compares encoded requests with messages written by hand
// from the kernel header.
func TestRequestGolden(t *testing.T) {
	littleEndianOnly(t)
	svc443 := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 443}
	v6 := dataplane.ServiceKey{Family: dataplane.IPv6, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("fd00::10"), Port: 80}
	tests := []struct {
		file string
		msg  func() (genetlink.Message, error)
	}{
		{"new_service_tcp4.hex", func() (genetlink.Message, error) { return serviceMessage(cmdNewService, persistent) }},
		{"new_service_fwmark6.hex", func() (genetlink.Message, error) {
			return serviceMessage(cmdNewService, dataplane.Service{
				Key: dataplane.ServiceKey{Family: dataplane.IPv6, Fwmark: 9}, Scheduler: "sh",
				Flags: dataplane.SHFallback | dataplane.SHPort, PersistenceBits: 128,
			})
		}},
		{"new_dest_gue.hex", func() (genetlink.Message, error) { return destMessage(cmdNewDest, svc443, gue, true) }},
		{"del_dest_v6.hex", func() (genetlink.Message, error) {
			return destMessage(cmdDelDest, v6, dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr("fd00::1:1"), Port: 8080}}, false)
		}},
		{"new_daemon.hex", func() (genetlink.Message, error) {
			return daemonMessage(dataplane.SyncDaemon{State: dataplane.SyncMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472,
				Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 2})
		}},
		{"set_config.hex", func() (genetlink.Message, error) {
			return timeoutsMessage(dataplane.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second})
		}},
	}
	for _, tt := range tests {
		m, err := tt.msg()
		got := marshal(t, m, err)
		if want := readHex(t, tt.file); !bytes.Equal(got, want) {
			t.Errorf("%s:\ngot  %x\nwant %x", tt.file, got, want)
		}
	}
}

// TestReplyGolden decodes replies shaped as the kernel sends them.
func TestReplyGolden(t *testing.T) {
	littleEndianOnly(t)
	var m genetlink.Message
	if err := m.UnmarshalBinary(readHex(t, "reply_service.hex")); err != nil {
		t.Fatal(err)
	}
	s, err := decodeServiceReply(m.Data)
	want := persistent
	want.Stats = dataplane.Stats{Conns: 7}
	if err != nil || s != want {
		t.Errorf("service reply: %+v %v, want %+v", s, err, want)
	}
	if err := m.UnmarshalBinary(readHex(t, "reply_dest.hex")); err != nil {
		t.Fatal(err)
	}
	d, err := decodeDestReply(m.Data, dataplane.IPv4)
	wantDest := gue
	wantDest.Stats = &dataplane.Stats{Conns: 9, ActiveConns: 3, InactConns: 4}
	if err != nil || !sameDest(d, wantDest) {
		t.Errorf("dest reply: %+v %v, want %+v", d, err, wantDest)
	}
}

// TestReplyStatsGolden decodes the counters of replies carrying both stats
// nests: STATS64 wins over the wrapped 32-bit STATS in either order, padding
// is skipped, and a destination's connection counts are read.
func TestReplyStatsGolden(t *testing.T) {
	littleEndianOnly(t)
	var m genetlink.Message
	if err := m.UnmarshalBinary(readHex(t, "reply_service_stats.hex")); err != nil {
		t.Fatal(err)
	}
	s, err := decodeServiceReply(m.Data)
	want := persistent
	want.Stats = dataplane.Stats{Conns: 5000000000, InPkts: 70, OutPkts: 60, InBytes: 7000000000, OutBytes: 6000000000,
		CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 400, OutBPS: 300}
	if err != nil || s != want {
		t.Errorf("service reply:\ngot  %+v %v\nwant %+v", s, err, want)
	}
	if err := m.UnmarshalBinary(readHex(t, "reply_dest_stats.hex")); err != nil {
		t.Fatal(err)
	}
	d, err := decodeDestReply(m.Data, dataplane.IPv4)
	wantDest := dataplane.Destination{
		Key:    dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 443},
		Weight: 5,
		Stats: &dataplane.Stats{Conns: 4294967297, InPkts: 100, OutPkts: 90, InBytes: 10000, OutBytes: 9000,
			CPS: 3, InPPS: 4, OutPPS: 5, InBPS: 600, OutBPS: 500, ActiveConns: 12, InactConns: 34, PersistConns: 5},
	}
	if err != nil || !sameDest(d, wantDest) {
		t.Errorf("dest reply:\ngot  %+v %v\nwant %+v", d, err, wantDest)
	}
}

// encodeStats writes st as the kernel writes a STATS64 nest (the connection
// counts of a destination go beside it, not in it), so that tests can build
// replies.
func encodeStats(ae *netlink.AttributeEncoder, typ uint16, st dataplane.Stats) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		for i, v := range []uint64{st.Conns, st.InPkts, st.OutPkts, st.InBytes, st.OutBytes, st.CPS, st.InPPS, st.OutPPS, st.InBPS, st.OutBPS} {
			nae.Uint64(uint16(statsConns+i), v)
		}
		return nil
	})
}

// statsAttr is st as the kernel writes a STATS64 nest of type typ.
func statsAttr(t testing.TB, typ uint16, st dataplane.Stats) []byte {
	ae := netlink.NewAttributeEncoder()
	encodeStats(ae, typ, st)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serviceReply and destReply build dump replies as the kernel does: the
// request encoding plus the counters.
func serviceReply(t testing.TB, s dataplane.Service) []byte {
	t.Helper()
	b, at := nestStart(nil, attrService)
	b = appendService(b, s)
	b = append(b, statsAttr(t, svcStats64, s.Stats)...)
	return nestEnd(b, at)
}

func destReply(t testing.TB, d dataplane.Destination) []byte {
	t.Helper()
	b, at := nestStart(nil, attrDest)
	b = appendDest(b, d, true)
	if d.Stats != nil { // a destination without counters is a request's
		b = attrU32(b, destActive, d.Stats.ActiveConns)
		b = attrU32(b, destInact, d.Stats.InactConns)
		b = attrU32(b, destPersist, d.Stats.PersistConns)
		b = append(b, statsAttr(t, destStats64, *d.Stats)...)
	}
	return nestEnd(b, at)
}

// TestStatsRoundTrip: counters written as the kernel writes them, up to the
// full 64 bits, read back unchanged; requests never carry them.
func TestStatsRoundTrip(t *testing.T) {
	full := dataplane.Stats{Conns: 1<<64 - 1, InPkts: 1 << 40, OutPkts: 3, InBytes: 1<<63 + 5, OutBytes: 6, CPS: 7, InPPS: 8, OutPPS: 9, InBPS: 10, OutBPS: 11}
	s := persistent
	s.Stats = full
	if got, err := decodeServiceReply(serviceReply(t, s)); err != nil || got != s {
		t.Errorf("service:\ngot  %+v %v\nwant %+v", got, err, s)
	}
	d := gue
	dfull := full
	dfull.ActiveConns, dfull.InactConns, dfull.PersistConns = 1<<32-1, 2, 3
	d.Stats = &dfull
	if got, err := decodeDestReply(destReply(t, d), dataplane.IPv4); err != nil || !sameDest(got, d) {
		t.Errorf("dest:\ngot  %+v %v\nwant %+v", got, err, d)
	}
	m, _ := serviceMessage(cmdNewService, s)
	if got, _ := decodeServiceReply(m.Data); got.Stats != (dataplane.Stats{}) {
		t.Errorf("a NEW_SERVICE request carried counters: %+v", got.Stats)
	}
	m, _ = destMessage(cmdNewDest, tcp4, d, true)
	if got, _ := decodeDestReply(m.Data, dataplane.IPv4); got.Stats != nil {
		t.Errorf("a NEW_DEST request carried counters: %+v", got.Stats)
	}
}

// TestRoundTrip: what the encoder writes for a whole service or destination
// decodes to the same value, for every kind of key and option.
func TestRoundTrip(t *testing.T) {
	services := []dataplane.Service{
		persistent,
		{Key: tcp4, Scheduler: "rr", PersistenceBits: 32},
		{Key: tcp4, Scheduler: "mh", Flags: dataplane.MHPort | dataplane.SchedFlag3, PersistenceBits: 32},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.0.0.3"), Port: 53}, Scheduler: "rr", OnePacket: true, PersistenceBits: 32},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.0.0.4"), Port: 5060}, Scheduler: "rr", Persistence: time.Minute, PersistenceBits: 32, PersistenceEngine: "sip"},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoSCTP, Addr: netip.MustParseAddr("10.0.0.5"), Port: 9999}, Scheduler: "lc", PersistenceBits: 32},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv6, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("fd00::10"), Port: 80}, Scheduler: "wlc", Persistence: 2 * time.Minute, PersistenceBits: 64},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 7}, Scheduler: "rr", Persistence: time.Hour, PersistenceBits: 0},
		{Key: dataplane.ServiceKey{Family: dataplane.IPv6, Fwmark: 9}, Scheduler: "sh", Flags: dataplane.SHFallback, PersistenceBits: 128},
	}
	for _, s := range services {
		m, err := serviceMessage(cmdNewService, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeServiceReply(m.Data)
		if err != nil || got != s {
			t.Errorf("service round trip:\ngot  %+v %v\nwant %+v", got, err, s)
		}
	}
	dests := []dataplane.Destination{
		gue,
		{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 80}, Weight: 1},
		{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 0}, Forwarding: dataplane.Forwarding{Method: dataplane.DR}},
		{Key: dataplane.DestKey{Addr: netip.MustParseAddr("fd00::1"), Port: 80}, Forwarding: dataplane.Forwarding{Method: dataplane.Tunnel, TunnelType: dataplane.GRE, TunnelChecksum: dataplane.Checksum}, Weight: 65535},
		{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.0.9.9"), Port: 80}, Forwarding: dataplane.Forwarding{Method: dataplane.Tunnel}, Weight: 0},
	}
	for _, d := range dests {
		m, err := destMessage(cmdNewDest, tcp4, d, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDestReply(m.Data, dataplane.IPv6) // its own family attribute wins
		if err != nil || !sameDest(got, d) {
			t.Errorf("dest round trip:\ngot  %+v %v\nwant %+v", got, err, d)
		}
	}
	sd := dataplane.SyncDaemon{State: dataplane.SyncBackup, Interface: "bond0.100", SyncID: 200, Group: netip.MustParseAddr("ff02::81"), Port: 9000, TTL: 9, MaxLen: 9000}
	m, _ := daemonMessage(sd)
	if got, err := decodeDaemon(m.Data); err != nil || got != sd {
		t.Errorf("daemon round trip: %+v %v", got, err)
	}
	to := dataplane.Timeouts{TCP: time.Hour, UDP: 10 * time.Second}
	m, _ = timeoutsMessage(to)
	if got, err := decodeTimeouts(m.Data); err != nil || got != to {
		t.Errorf("timeouts round trip: %+v %v", got, err)
	}
}

func TestEncodeRefusesLongNames(t *testing.T) {
	if _, err := serviceMessage(cmdNewService, dataplane.Service{Key: tcp4, Scheduler: "a-scheduler-name-too-long"}); err == nil {
		t.Error("a scheduler name longer than the kernel's limit was encoded")
	}
	if _, err := daemonMessage(dataplane.SyncDaemon{State: dataplane.SyncMaster, Interface: "an-interface-name-too-long"}); err == nil {
		t.Error("an interface name longer than the kernel's limit was encoded")
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"truncated attribute": {0x08, 0x00, 0x01},
		"no service":          {},
		"service without family": {0x0c, 0x00, 0x01, 0x80,
			0x08, 0x00, 0x05, 0x00, 0x09, 0x00, 0x00, 0x00},
		"short address": {0x1c, 0x00, 0x01, 0x80,
			0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00, // AF_INET6
			0x08, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x01, // 4-byte address
			0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00},
	} {
		if s, err := decodeServiceReply(data); err == nil {
			t.Errorf("%s: decoded %+v", name, s)
		}
	}
	badStats := []byte{0x1c, 0x00, 0x01, 0x80,
		0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF_INET
		0x08, 0x00, 0x05, 0x00, 0x09, 0x00, 0x00, 0x00, // FWMARK 9
		0x0c, 0x00, 0x0c, 0x80, // STATS64
		0x06, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00} // a 2-byte CONNS
	if s, err := decodeServiceReply(badStats); err == nil {
		t.Errorf("a 2-byte counter decoded: %+v", s)
	}
	if d, err := decodeDestReply([]byte{0x04, 0x00, 0x02, 0x80}, dataplane.IPv4); err == nil {
		t.Errorf("destination without address decoded: %+v", d)
	}
}

// sameDest compares two destinations with their counters' values (Stats
// is a pointer).
func sameDest(a, b dataplane.Destination) bool {
	if (a.Stats == nil) != (b.Stats == nil) || a.Counters() != b.Counters() {
		return false
	}
	a.Stats, b.Stats = nil, nil
	return a == b
}
