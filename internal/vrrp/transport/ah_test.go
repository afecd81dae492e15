package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readAHDatagram reads the datagram of ../testdata/ah/name ("#" comments,
// "pass" and "unicast" lines, hex lines), a whole IPv4 datagram with AH.
func readAHDatagram(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "ah", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hx strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line == "unicast" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "pass ") {
			continue
		}
		hx.WriteString(strings.ReplaceAll(line, " ", ""))
	}
	b, err := hex.DecodeString(hx.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listenAHIn opens an AH Conn inside ns, closed by t.Cleanup.
func listenAHIn(t *testing.T, ns, ifname string) *Conn {
	t.Helper()
	var c *Conn
	if err := inNS(ns, func() error {
		var err error
		c, err = ListenAH(ifname)
		return err
	}); err != nil {
		t.Fatalf("ListenAH(%s) in %s: %v", ifname, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAH sends keepalived's AH datagrams, multicast and unicast, from one AH
// socket to another: they arrive whole and unchanged (the kernel's header
// checksum is the one keepalived's datagrams carry), with the header's
// addresses and TTL, and a protocol 112 socket sees none of them.
func TestAH(t *testing.T) {
	p := newVethPair(t)
	a, b := listenAHIn(t, p.nsA, "va"), listenAHIn(t, p.nsB, "vb")
	plain := listenIn(t, p.nsB, "vb", 4)
	for _, c := range []*Conn{a, b, plain} {
		if err := c.JoinGroup(Group4); err != nil {
			t.Fatal(err)
		}
	}
	if !a.AH() || plain.AH() {
		t.Fatalf("AH() = %v for ListenAH, %v for Listen", a.AH(), plain.AH())
	}
	mb, mplain := runMux(t, b), runMux(t, plain)
	ch61, _ := mb.Subscribe(61, 16)
	ch62, _ := mb.Subscribe(62, 16)
	plain61, _ := mplain.Subscribe(61, 16)

	tests := []struct {
		name string
		file string
		ch   <-chan Received
	}{
		{"multicast", "keepalived_v2_ah.hex", ch61},
		{"unicast", "keepalived_v2_ah_unicast.hex", ch62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := readAHDatagram(t, tt.file)
			dst := addrB4
			if tt.name == "multicast" {
				dst = Group4
			}
			// Zero the header checksum: the kernel must fill it in.
			out := bytes.Clone(d)
			out[10], out[11] = 0, 0
			if err := a.WriteTo(out, addrA4, dst); err != nil {
				t.Fatal(err)
			}
			r := recv(t, tt.ch, wait, tt.name)
			if !bytes.Equal(r.Payload, d) {
				t.Fatalf("received\n%x\nsent\n%x", r.Payload, d)
			}
			checkMeta(t, r.Meta, addrA4, dst, 255, p.idxB)
		})
	}
	if s := mplain.Stats(); s.Read != 0 || len(drain(plain61)) != 0 {
		t.Errorf("the protocol 112 socket read %d datagrams", s.Read)
	}
}

func TestAHWriteChecks(t *testing.T) {
	p := newVethPair(t)
	a := listenAHIn(t, p.nsA, "va")
	d := readAHDatagram(t, "keepalived_v2_ah.hex")
	tests := []struct {
		name string
		b    []byte
		src  string
		want string
	}{
		{"other destination", d, "10.77.0.1", "sent as"},
		{"other source", d, "10.77.0.9", "sent as"},
		{"short", d[:10], "10.77.0.1", "AH datagram"},
		{"wrong total length", d[:50], "10.77.0.1", "total length"},
		{"not AH", append([]byte{0x45, 0xc0, 0, 68, 0, 1, 0, 0, 255, 112}, d[10:]...), "10.77.0.1", "protocol 112"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := Group4
			if tt.name == "other destination" {
				dst = addrB4
			}
			src := addrA4
			if tt.src != "10.77.0.1" {
				src = addrB4
			}
			err := a.WriteTo(tt.b, src, dst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteTo = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if err := a.SetUnicastTTL(64); err == nil {
		t.Error("SetUnicastTTL on an AH socket succeeded")
	}
}

// keepalivedAHConf is the configuration the golden AH datagrams were
// captured with: VIAH sent keepalived_v2_ah.hex, VIAHU
// keepalived_v2_ah_unicast.hex, each as its first advert.
const keepalivedAHConf = `
vrrp_instance VIAH {
  state MASTER
  interface va
  virtual_router_id 61
  priority 200
  advert_int 1
  authentication {
    auth_type AH
    auth_pass secret1
  }
  virtual_ipaddress {
    10.77.0.100/24
    10.77.0.101/24
  }
}
vrrp_instance VIAHU {
  state MASTER
  interface va
  virtual_router_id 62
  priority 150
  advert_int 1
  authentication {
    auth_type AH
    auth_pass longerpassword
  }
  unicast_src_ip 10.77.0.1
  unicast_peer {
    10.77.0.2
  }
  virtual_ipaddress {
    10.77.0.110/24
  }
}
`

// TestAHFromKeepalived receives real keepalived 2.2.7 AH adverts: the first
// of each instance (sequence number and IP ID 1) is the golden datagram byte
// for byte, and later ones count up.
func TestAHFromKeepalived(t *testing.T) {
	p := newVethPair(t)
	c := listenAHIn(t, p.nsB, "vb")
	if err := c.JoinGroup(Group4); err != nil {
		t.Fatal(err)
	}
	m := runMux(t, c)
	ch61, _ := m.Subscribe(61, 64)
	ch62, _ := m.Subscribe(62, 64)
	startKeepalived(t, p.nsA, keepalivedAHConf)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name string
		ch   <-chan Received
		file string
		dst  string
	}{
		{"multicast", ch61, "keepalived_v2_ah.hex", "224.0.0.18"},
		{"unicast", ch62, "keepalived_v2_ah_unicast.hex", "10.77.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := readAHDatagram(t, tt.file)
			for seq := byte(1); seq <= 2; seq++ {
				var r Received
				select {
				case r = <-tt.ch:
				case <-ctx.Done():
					t.Fatalf("no advert %d from keepalived in time", seq)
				}
				if len(r.Payload) != len(want) || r.Payload[31] != seq || r.Payload[5] != seq {
					t.Fatalf("advert %d: %x", seq, r.Payload)
				}
				if seq == 1 && !bytes.Equal(r.Payload, want) {
					t.Fatalf("keepalived sent\n%x\ngolden datagram is\n%x", r.Payload, want)
				}
				if r.Meta.Src != addrA4 || r.Meta.Dst.String() != tt.dst || r.Meta.TTL != 255 || r.Meta.IfIndex != p.idxB {
					t.Fatalf("meta %+v", r.Meta)
				}
			}
		})
	}
}

func TestListenAHNoInterface(t *testing.T) {
	c, err := ListenAH("vigil-nonexistent0")
	if err == nil {
		c.Close()
		t.Fatal("ListenAH succeeded on a missing interface")
	}
	if !strings.Contains(err.Error(), "vigil-nonexistent0") {
		t.Fatalf("err = %v, want it to name the interface", err)
	}
}
