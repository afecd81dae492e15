package vrrp

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// ahGolden is one testdata/ah/*.hex file: a whole IPv4 datagram carrying AH
// and VRRP, with the auth_pass it was sealed with.
type ahGolden struct {
	pass     string
	unicast  bool
	datagram []byte
}

// readAHGolden reads a testdata/ah file: "pass PASSWORD" and an optional
// "unicast" around the datagram (see readHexFile).
func readAHGolden(t testing.TB, name string) ahGolden {
	t.Helper()
	var g ahGolden
	g.datagram = readHexFile(t, filepath.Join("testdata", "ah", name), func(key, val string) bool {
		switch key {
		case "pass":
			g.pass = val
		case "unicast":
			g.unicast = true
		default:
			return false
		}
		return true
	})
	return g
}

var (
	ahSrc   = netip.MustParseAddr("10.77.0.1")
	ahPeer  = netip.MustParseAddr("10.77.0.2")
	ahGroup = netip.MustParseAddr("224.0.0.18")
)

// TestAHKeepalivedGolden decodes and verifies adverts captured from
// keepalived 2.2.7, and checks that sealing their payload again gives the
// very same bytes.
func TestAHKeepalivedGolden(t *testing.T) {
	tests := []struct {
		file string
		dst  netip.Addr
		ttl  uint8
		id   uint16
		seq  uint32
		want Packet
	}{
		{"keepalived_v2_ah.hex", ahGroup, 255, 1, 1, Packet{Version: 2, VRID: 61, Priority: 200, AuthType: AuthAH,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.100", "10.77.0.101")}},
		{"keepalived_v2_ah_prio0.hex", ahGroup, 255, 5, 5, Packet{Version: 2, VRID: 61, Priority: 0, AuthType: AuthAH,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.100", "10.77.0.101")}},
		{"keepalived_v2_ah_unicast.hex", ahPeer, 255, 1, 1, Packet{Version: 2, VRID: 62, Priority: 150, AuthType: AuthAH,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.110")}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			g := readAHGolden(t, tt.file)
			d, err := ParseAH(g.datagram)
			if err != nil {
				t.Fatalf("ParseAH: %v", err)
			}
			if d.Src != ahSrc || d.Dst != tt.dst || d.TTL != tt.ttl || d.ID != tt.id || d.Seq != tt.seq ||
				d.SPI != 0x0a4d0001 || d.NextHeader != IPProtocol {
				t.Errorf("decoded %+v", d)
			}
			if err := VerifyAH(g.datagram, d, AHKey(g.pass), g.unicast); err != nil {
				t.Fatalf("VerifyAH with %q: %v", g.pass, err)
			}
			p, err := Parse(d.Payload, d.Src, d.Dst, CodecOptions{})
			if err != nil {
				t.Fatalf("Parse of the AH payload: %v", err)
			}
			if !packetsEqual(p, &tt.want) {
				t.Errorf("payload decodes to %+v, want %+v", p, tt.want)
			}
			sealed, err := SealAH(d.Payload, AHParams{Src: d.Src, Dst: d.Dst, ID: d.ID, Seq: d.Seq, Unicast: g.unicast}, AHKey(g.pass))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sealed, g.datagram) {
				t.Errorf("SealAH gives\n%x\nkeepalived sent\n%x", sealed, g.datagram)
			}
		})
	}
}

func packetsEqual(a, b *Packet) bool {
	if a.Version != b.Version || a.VRID != b.VRID || a.Priority != b.Priority || a.AuthType != b.AuthType ||
		a.Interval != b.Interval || a.AuthData != b.AuthData || len(a.Addrs) != len(b.Addrs) {
		return false
	}
	for i := range a.Addrs {
		if a.Addrs[i] != b.Addrs[i] {
			return false
		}
	}
	return true
}

func TestAHKey(t *testing.T) {
	tests := []struct {
		pass string
		want [8]byte
	}{
		{"", [8]byte{}},
		{"abc", [8]byte{'a', 'b', 'c'}},
		{"12345678", [8]byte{'1', '2', '3', '4', '5', '6', '7', '8'}},
		{"longerpassword", [8]byte{'l', 'o', 'n', 'g', 'e', 'r', 'p', 'a'}},
	}
	for _, tt := range tests {
		if got := AHKey(tt.pass); got != tt.want {
			t.Errorf("AHKey(%q) = %q, want %q", tt.pass, got, tt.want)
		}
	}
}

// TestVerifyAHFields changes one field at a time: the fields keepalived
// leaves out of the ICV may change in transit, every other one must not.
func TestVerifyAHFields(t *testing.T) {
	multi := readAHGolden(t, "keepalived_v2_ah.hex")
	uni := readAHGolden(t, "keepalived_v2_ah_unicast.hex")
	tests := []struct {
		name   string
		g      ahGolden
		key    string // "" means the golden one
		change func(b []byte)
		ok     bool
	}{
		{"untouched", multi, "", func([]byte) {}, true},
		{"TOS", multi, "", func(b []byte) { b[1] = 0 }, true},
		{"DF and fragment field", multi, "", func(b []byte) { b[6] = 0x40 }, true},
		{"header checksum", multi, "", func(b []byte) { b[10] ^= 0xff }, true},
		{"TTL, multicast", multi, "", func(b []byte) { b[8] = 254 }, false},
		{"TTL, unicast", uni, "", func(b []byte) { b[8] = 64 }, true},
		{"IP ID", multi, "", func(b []byte) { b[5]++ }, false},
		{"source address", multi, "", func(b []byte) { b[15] = 9 }, false},
		{"destination address", multi, "", func(b []byte) { b[19] = 19 }, false},
		{"sequence number", multi, "", func(b []byte) { b[31]++ }, false},
		{"ICV", multi, "", func(b []byte) { b[43] ^= 1 }, false},
		{"VRRP priority", multi, "", func(b []byte) { b[46] = 201 }, false},
		{"VRRP address", multi, "", func(b []byte) { b[55] = 0x66 }, false},
		{"auth data field", multi, "", func(b []byte) { b[60] = 'x' }, false},
		{"wrong key", multi, "secret2", func([]byte) {}, false},
		{"key differing after 8 bytes", uni, "longerpa-other", func([]byte) {}, true},
		{"key differing within 8 bytes", uni, "longerPassword", func([]byte) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.g.datagram)
			tt.change(b)
			d, err := ParseAH(b)
			if err != nil {
				t.Fatalf("ParseAH: %v", err)
			}
			key := tt.g.pass
			if tt.key != "" {
				key = tt.key
			}
			err = VerifyAH(b, d, AHKey(key), tt.g.unicast)
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyAH: %v, want success", err)
				}
				return
			}
			if r, ok := ReasonOf(err); !ok || r != DropAuth {
				t.Fatalf("VerifyAH = %v, want a %q drop", err, DropAuth)
			}
		})
	}
}

// TestVerifyAHSPI: a datagram with a correct ICV but an SPI that is not the
// source address is refused, as keepalived does.
func TestVerifyAHSPI(t *testing.T) {
	key := AHKey("k")
	payload := readAHGolden(t, "keepalived_v2_ah.hex").datagram[44:]
	b, err := SealAH(payload, AHParams{Src: ahSrc, Dst: ahGroup, ID: 7, Seq: 3}, key)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(b[24:], 0x0a4d0002)
	d, err := ParseAH(b)
	if err != nil {
		t.Fatal(err)
	}
	icv := ahICV(b, 20, key, false) // make the ICV right for the new SPI
	copy(b[32:44], icv[:])
	copy(d.ICV[:], icv[:])
	err = VerifyAH(b, d, key, false)
	if r, _ := ReasonOf(err); r != DropAuth || !strings.Contains(err.Error(), "SPI") {
		t.Fatalf("VerifyAH = %v, want an SPI auth drop", err)
	}
}

func TestParseAHMalformed(t *testing.T) {
	good := readAHGolden(t, "keepalived_v2_ah.hex").datagram
	tests := []struct {
		name   string
		change func(b []byte) []byte
		detail string
	}{
		{"empty", func([]byte) []byte { return nil }, "IPv4 header alone"},
		{"IPv4 header only", func(b []byte) []byte { return b[:20] }, "need 44"},
		{"cut inside AH", func(b []byte) []byte { return b[:40] }, "need 44"},
		{"IPv6 version", func(b []byte) []byte { b[0] = 0x65; return b }, "IP version 6"},
		{"IHL too small", func(b []byte) []byte { b[0] = 0x44; return b }, "header length 16"},
		{"IHL past the AH header", func(b []byte) []byte { b[0] = 0x4f; return b }, "need 84"},
		{"total length too long", func(b []byte) []byte { b[3]++; return b }, "total length 69"},
		{"datagram longer than total length", func(b []byte) []byte { return append(b, 0) }, "total length 68"},
		{"not AH", func(b []byte) []byte { b[9] = 112; return b }, "protocol 112"},
		{"AH payload length", func(b []byte) []byte { b[21] = 5; return b }, "payload length 5"},
		{"next header not VRRP", func(b []byte) []byte { b[20] = 6; return b }, "next header 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseAH(tt.change(bytes.Clone(good)))
			if d != nil {
				t.Fatalf("ParseAH accepted it: %+v", d)
			}
			if r, ok := ReasonOf(err); !ok || r != DropLength || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("ParseAH = %v, want a %q drop mentioning %q", err, DropLength, tt.detail)
			}
		})
	}
}

func TestSealAHErrors(t *testing.T) {
	tests := []struct {
		name    string
		p       AHParams
		payload []byte
	}{
		{"IPv6 source", AHParams{Src: netip.MustParseAddr("fd00::1"), Dst: ahGroup, ID: 1}, nil},
		{"no destination", AHParams{Src: ahSrc, ID: 1}, nil},
		{"ID 0", AHParams{Src: ahSrc, Dst: ahGroup}, nil},
		{"too long", AHParams{Src: ahSrc, Dst: ahGroup, ID: 1}, make([]byte, 0xffff)},
	}
	for _, tt := range tests {
		if b, err := SealAH(tt.payload, tt.p, AHKey("x")); err == nil {
			t.Errorf("%s: SealAH = %x, want an error", tt.name, b)
		}
	}
}

// TestAHSessionSequence follows keepalived's single sequence number: sends
// count up from 1, a received advert must be above it and raises it.
func TestAHSessionSequence(t *testing.T) {
	payload := readAHGolden(t, "keepalived_v2_ah.hex").datagram[44:]
	peer := func(seq uint32, pass string) []byte {
		b, err := SealAH(payload, AHParams{Src: ahPeer, Dst: ahGroup, ID: 9, Seq: seq}, AHKey(pass))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := newAHSession("secret1", false)
	sent := func() uint32 {
		t.Helper()
		s.next()
		b, err := s.seal(payload, ahSrc, ahGroup)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseAH(b)
		if err != nil {
			t.Fatal(err)
		}
		return d.Seq
	}
	steps := []struct {
		name    string
		recv    []byte // nil: send one advert
		wantSeq uint32 // the sent sequence number, or the session's after receiving
		reason  DropReason
		level   slog.Level
	}{
		{"first advert", nil, 1, "", 0},
		{"second advert", nil, 2, "", 0},
		{"peer above us", peer(10, "secret1"), 10, "", 0},
		{"our next advert follows the peer", nil, 11, "", 0},
		{"replay of an old one", peer(10, "secret1"), 11, DropAuth, slog.LevelInfo},
		{"equal to ours", peer(11, "secret1"), 11, DropAuth, slog.LevelInfo},
		{"wrong key does not move the counter", peer(500, "other"), 11, DropAuth, slog.LevelWarn},
		{"malformed", []byte{0x45}, 11, DropLength, slog.LevelDebug},
		{"next one accepted", peer(12, "secret1"), 12, "", 0},
		{"gaps are fine", peer(40, "secret1"), 40, "", 0},
	}
	for _, st := range steps {
		if st.recv == nil {
			if got := sent(); got != st.wantSeq {
				t.Fatalf("%s: sent sequence %d, want %d", st.name, got, st.wantSeq)
			}
			continue
		}
		out, de, level := s.open(st.recv)
		switch {
		case st.reason == "" && de != nil:
			t.Fatalf("%s: dropped: %v", st.name, de)
		case st.reason == "" && !bytes.Equal(out, payload):
			t.Fatalf("%s: payload %x, want %x", st.name, out, payload)
		case st.reason != "" && (de == nil || de.Reason != st.reason || level != st.level):
			t.Fatalf("%s: drop %v at %v, want %q at %v", st.name, de, level, st.reason, st.level)
		}
		if s.seq != st.wantSeq {
			t.Fatalf("%s: session sequence %d, want %d", st.name, s.seq, st.wantSeq)
		}
	}
}

// TestAHSessionLimits: the sequence number sticks below the top rather than
// wrap, and the IP ID wraps past 0, which the kernel would replace.
func TestAHSessionLimits(t *testing.T) {
	s := newAHSession("x", false)
	s.seq, s.id = maxAHSeq-1, 0xfffe
	wantSeq := []uint32{maxAHSeq, maxAHSeq + 1, maxAHSeq + 1}
	wantID := []uint16{0xffff, 1, 2}
	for i := range wantSeq {
		s.next()
		if s.seq != wantSeq[i] || s.id != wantID[i] {
			t.Fatalf("step %d: seq %#x id %#x, want %#x %#x", i, s.seq, s.id, wantSeq[i], wantID[i])
		}
	}
	if _, err := newAHSession("x", false).seal(nil, ahSrc, ahGroup); err == nil {
		t.Fatal("seal before next succeeded with IP ID 0")
	}
}

// TestInstanceAHReceive feeds keepalived's own AH adverts to an instance:
// accepted with the right key, counted as auth drops with a wrong one or on
// replay, as length drops when malformed.
func TestInstanceAHReceive(t *testing.T) {
	g := readAHGolden(t, "keepalived_v2_ah.hex")
	cfg := func(pass string) InstanceConfig {
		c := instCfg("AH", ahPeer, 100)
		c.VRID = 61
		c.AuthType, c.AuthPass = AuthAH, pass
		c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("10.77.0.100/24")}, {Prefix: netip.MustParsePrefix("10.77.0.101/24")}}
		return c
	}
	tests := []struct {
		name    string
		pass    string
		packets [][]byte
		rx      uint64
		drops   map[DropReason]uint64
	}{
		{"right key", "secret1", [][]byte{g.datagram}, 1, map[DropReason]uint64{}},
		{"wrong key", "secret2", [][]byte{g.datagram}, 0, map[DropReason]uint64{DropAuth: 1}},
		{"replay", "secret1", [][]byte{g.datagram, g.datagram}, 1, map[DropReason]uint64{DropAuth: 1}},
		{"malformed", "secret1", [][]byte{g.datagram[:30]}, 0, map[DropReason]uint64{DropLength: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newFakeNet()
				nd := n.add(t, cfg(tt.pass))
				nd.start(t.Context())
				synctest.Wait()
				for _, p := range tt.packets {
					nd.in <- Received{Src: ahSrc, Dst: ahGroup, TTL: 255, Payload: bytes.Clone(p)}
					synctest.Wait()
				}
				s := nd.inst.Snapshot()
				if s.Counters.AdvertsRx != tt.rx || len(s.Drops) != len(tt.drops) {
					t.Fatalf("received %d, drops %v; want %d, %v", s.Counters.AdvertsRx, s.Drops, tt.rx, tt.drops)
				}
				for r, v := range tt.drops {
					if s.Drops[r] != v {
						t.Fatalf("drops %v, want %v", s.Drops, tt.drops)
					}
				}
				if tt.rx > 0 && (s.MasterAddr != ahSrc || s.MasterPriority != 200) {
					t.Fatalf("master %v priority %d, want keepalived's %v 200", s.MasterAddr, s.MasterPriority, ahSrc)
				}
				nd.stop(t)
			})
		})
	}
}

// TestInstanceAHElection runs two AH instances against each other: with one
// key they elect one master; with different keys each drops the other's
// adverts as auth failures and both become master.
func TestInstanceAHElection(t *testing.T) {
	tests := []struct {
		name         string
		passA, passB string
		stateB       State
	}{
		{"same key", "secret1", "secret1", StateBackup},
		{"different keys", "secret1", "secret2", StateMaster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newFakeNet()
				ca, cb := instCfg("A", addrA, 150), instCfg("B", addrB, 100)
				ca.AuthType, ca.AuthPass = AuthAH, tt.passA
				cb.AuthType, cb.AuthPass = AuthAH, tt.passB
				a, b := n.add(t, ca), n.add(t, cb)
				a.start(t.Context())
				b.start(t.Context())
				settle(10 * time.Second)
				wantState(t, a, StateMaster)
				wantState(t, b, tt.stateB)
				sa, sb := a.inst.Snapshot(), b.inst.Snapshot()
				if tt.stateB == StateBackup {
					if sb.Counters.AdvertsRx < 5 || sb.Drops[DropAuth] != 0 || sb.MasterAddr != addrA {
						t.Fatalf("B: %+v", sb)
					}
				} else if sa.Drops[DropAuth] == 0 || sb.Drops[DropAuth] < 5 || sb.Counters.AdvertsRx != 0 {
					t.Fatalf("auth drops: A %v, B %v; B received %d", sa.Drops, sb.Drops, sb.Counters.AdvertsRx)
				}
				a.stop(t)
				b.stop(t)
			})
		})
	}
}
