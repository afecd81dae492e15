package dataplane

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCapabilities(t *testing.T) {
	natOnly := Capabilities{
		Name:       "small",
		Schedulers: []string{"rr", "wrr"},
		Methods:    []Method{NAT},
		Protocols:  []Protocol{ProtoTCP, ProtoUDP},
	}
	withDR := natOnly
	withDR.Methods = []Method{NAT, DR}
	withDR.FwmarkMethods = []Method{NAT}
	v4 := ServiceKey{Family: IPv4, Protocol: ProtoTCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	v6 := ServiceKey{Family: IPv6, Protocol: ProtoSCTP, Addr: netip.MustParseAddr("fd00::1"), Port: 80}
	tests := []struct {
		name string
		err  error
		want []string // substrings; none means no error
	}{
		{"plain service", natOnly.CheckService(Service{Key: v4, Scheduler: "rr"}), nil},
		{"everything missing", natOnly.CheckService(Service{Key: v6, Scheduler: "sh", Flags: SHPort, OnePacket: true, Persistence: time.Second, PersistenceEngine: "sip"}),
			[]string{"protocol SCTP", "IPv6", "scheduler sh", "scheduler flags", "one-packet", "persistence", "engine sip"}},
		{"fwmark", natOnly.CheckService(Service{Key: ServiceKey{Family: IPv4, Fwmark: 1}, Scheduler: "rr"}), []string{"fwmark"}},
		{"DR for a fwmark service", withDR.CheckDestination(ServiceKey{Family: IPv4, Fwmark: 1}, Destination{Key: DestKey{Addr: netip.MustParseAddr("10.0.1.1")}, Forwarding: Forwarding{Method: DR}}),
			[]string{"forwarding method Route for a fwmark service"}},
		{"DR for an address service", withDR.CheckDestination(v4, Destination{Key: DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 80}, Forwarding: Forwarding{Method: DR}}), nil},
		{"NAT for a fwmark service", withDR.CheckDestination(ServiceKey{Family: IPv4, Fwmark: 1}, Destination{Key: DestKey{Addr: netip.MustParseAddr("10.0.1.1")}}), nil},
		{"NAT destination", natOnly.CheckDestination(v4, Destination{Key: DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 80}}), nil},
		{"tunnel destination", natOnly.CheckDestination(v4, Destination{Key: DestKey{Addr: netip.MustParseAddr("fd00::2")},
			Forwarding: Forwarding{Method: Tunnel, TunnelType: GUE, TunnelPort: 1}, UpperThreshold: 1}),
			[]string{"forwarding method Tunnel", "tunnel type", "tunnel port", "IPv6", "another family", "thresholds"}},
	}
	for _, tt := range tests {
		if len(tt.want) == 0 {
			if tt.err != nil {
				t.Errorf("%s: %v", tt.name, tt.err)
			}
			continue
		}
		if !errors.Is(tt.err, ErrUnsupported) {
			t.Errorf("%s: %v does not wrap ErrUnsupported", tt.name, tt.err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(tt.err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, tt.err, w)
			}
		}
		if !strings.Contains(tt.err.Error(), "data plane small") {
			t.Errorf("%s: %q does not name the plane", tt.name, tt.err)
		}
	}
	advised := natOnly
	advised.Advice = "use another plane"
	err := advised.CheckService(Service{Key: v4, Scheduler: "sh"})
	if !errors.Is(err, ErrUnsupported) || !strings.HasSuffix(err.Error(), "scheduler sh (use another plane)") {
		t.Errorf("advised refusal %q", err)
	}
}
