package chaos

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"

	"vigil/internal/vrrp"
)

// Datagram is one VRRP payload to send to 224.0.0.18 with the IP TTL given.
type Datagram struct {
	Data []byte
	TTL  int
	What string // how it is malformed
}

// vrrpGroup is the IPv4 VRRP multicast group.
var vrrpGroup = netip.MustParseAddr("224.0.0.18")

// Garbage returns count datagrams from seed that no correct VRRP node may
// act on, sent from src: random bytes, truncated or mis-versioned
// headers, wrong types, bad checksums, address counts that do not fit, a
// wrong or missing PASS password, or a correct advert with a TTL other than
// 255. Those that look like adverts claim priority 254 for the campaign's
// VRIDs, so that accepting one would move a master and show.
func Garbage(seed uint64, count int, src netip.Addr, w *World) []Datagram {
	r := rand.New(rand.NewPCG(seed, ^seed))
	var v2, v3 []InstanceSpec
	for _, in := range w.Instances {
		if in.Spec.Version == 2 {
			v2 = append(v2, in.Spec)
		} else {
			v3 = append(v3, in.Spec)
		}
	}
	advert := func(s InstanceSpec, pass string) []byte {
		p := vrrp.Packet{Version: uint8(s.Version), VRID: uint8(s.VRID), Priority: 254,
			Interval: s.AdvertInt, Addrs: []netip.Addr{s.BaseVIP.Addr()}}
		if s.Version == 2 && pass != "" {
			p.AuthType = vrrp.AuthPass
			copy(p.AuthData[:], pass)
		}
		b, err := p.Marshal(src, vrrpGroup, vrrp.CodecOptions{})
		if err != nil {
			// The specs are the campaign's own; a failure is a bug here.
			panic(err)
		}
		return b
	}
	pickV2 := func() InstanceSpec { return v2[r.IntN(len(v2))] }
	pickV3 := func() InstanceSpec { return v3[r.IntN(len(v3))] }
	out := make([]Datagram, 0, count)
	for len(out) < count {
		d := Datagram{TTL: 255}
		switch r.IntN(9) {
		case 0:
			d.What = "random bytes"
			d.Data = make([]byte, 1+r.IntN(80))
			for i := range d.Data {
				d.Data[i] = byte(r.UintN(256))
			}
			// Random bytes that happen to parse are not garbage.
			if _, err := vrrp.Parse(d.Data, src, vrrpGroup, vrrp.CodecOptions{}); err == nil {
				continue
			}
		case 1:
			d.What = "v3 bad checksum"
			d.Data = advert(pickV3(), "")
			d.Data[6] ^= byte(1 + r.IntN(255))
		case 2:
			d.What = "TTL 64"
			d.Data = advert(pickV3(), "")
			d.TTL = 64
		case 3:
			d.What = "v2 wrong password"
			s := pickV2()
			d.Data = advert(s, s.Pass+"x")
		case 4:
			d.What = "v2 no authentication"
			d.Data = advert(pickV2(), "")
		case 5:
			d.What = "bad version"
			d.Data = advert(pickV3(), "")
			vers := []byte{0, 1, 4, 5, 15}
			d.Data[0] = vers[r.IntN(len(vers))]<<4 | d.Data[0]&0x0f
		case 6:
			d.What = "truncated"
			d.Data = advert(pickV3(), "")[:1+r.IntN(7)]
		case 7:
			d.What = "bad type"
			d.Data = advert(pickV3(), "")
			d.Data[0] = d.Data[0]&0xf0 | byte(2+r.IntN(14))
		case 8:
			d.What = "address count too large"
			s := pickV2()
			d.Data = advert(s, s.Pass)
			d.Data[3] = byte(2 + r.IntN(200))
			// A correct checksum, so only the count is wrong.
			binary.BigEndian.PutUint16(d.Data[6:], 0)
			binary.BigEndian.PutUint16(d.Data[6:], inetChecksum(d.Data))
		}
		out = append(out, d)
	}
	return out
}

// inetChecksum is the Internet checksum of b (VRRPv2's, over the payload).
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// garbagePace is the gap between two malformed datagrams: a burst of 200
// takes about 200 ms, a flood for the 10 ms instance, not a storm.
const garbagePace = time.Millisecond
