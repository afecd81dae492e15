package check

import (
	"net/netip"
	"reflect"
	"testing"

	"vigil/internal/config"
)

func TestServer(t *testing.T) {
	key := ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:80")}
	upS := &config.Script{Command: "/bin/up"}
	downS := &config.Script{Command: "/bin/down"}
	cfg := ServerConfig{Key: key, Weight: 10, NotifyUp: upS, NotifyDown: downS}
	h := func(up bool, w int) Output { return Health{Server: key, Up: up, Weight: w} }
	n := func(up bool) Output {
		s := downS
		if up {
			s = upS
		}
		return Notify{Server: key, Up: up, Script: s}
	}
	type ev struct {
		i    int
		r    Report
		want []Output
	}
	tests := []struct {
		name  string
		alpha []bool
		evs   []ev
	}{
		{
			name:  "non-alpha first success: nothing to say",
			alpha: []bool{false},
			evs:   []ev{{0, up(true), nil}},
		},
		{
			name:  "non-alpha first failure: down with notify",
			alpha: []bool{false},
			evs:   []ev{{0, down(true), []Output{h(false, 10), n(false)}}},
		},
		{
			name:  "alpha first failure: already down, notify_down once anyway",
			alpha: []bool{true},
			evs:   []ev{{0, down(true), []Output{n(false)}}, {0, down(false), nil}},
		},
		{
			name:  "alpha first success: up",
			alpha: []bool{true},
			evs:   []ev{{0, up(true), []Output{h(true, 10), n(true)}}},
		},
		{
			name:  "up only when all checkers pass; first failure down, last recovery up",
			alpha: []bool{false, false},
			evs: []ev{
				{0, up(true), nil},
				{1, up(true), nil},
				{0, down(false), []Output{h(false, 10), n(false)}},
				{1, down(false), nil},
				{0, up(false), nil},
				{1, up(false), []Output{h(true, 10), n(true)}},
			},
		},
		{
			name:  "dynamic weights: misc absolute, file delta; clamped at 0",
			alpha: []bool{false, false},
			evs: []ev{
				{0, Report{Up: true, First: true, Weight: 3, HasWeight: true}, []Output{h(true, 3)}},
				{1, Report{Up: true, First: true, Weight: 5, HasWeight: true, WeightIsDelta: true}, []Output{h(true, 8)}},
				{1, Report{Up: true, Weight: -20, HasWeight: true, WeightIsDelta: true}, []Output{h(true, 0)}},
				{0, Report{Up: false}, []Output{h(false, 0), n(false)}},
				{0, Report{Up: true}, []Output{h(true, 0), n(true)}},
				{1, Report{Up: true}, []Output{h(true, 10)}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(cfg, tc.alpha)
			for i, e := range tc.evs {
				got := s.Handle(e.i, e.r)
				if len(got) == 0 && len(e.want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, e.want) {
					t.Fatalf("event %d: got %+v, want %+v", i, got, e.want)
				}
			}
		})
	}
}

func TestServerInitialAndOmega(t *testing.T) {
	key := ServerKey{VS: "FWM 1", RS: netip.MustParseAddrPort("[fe80::1]:0")}
	if h := NewServer(ServerConfig{Key: key, Weight: 1}, nil).Health(); !h.Up || h.Weight != 1 {
		t.Errorf("server without checkers: %+v, want up with weight 1", h)
	}
	if h := NewServer(ServerConfig{Key: key, Weight: 1}, []bool{false, true}).Health(); h.Up {
		t.Errorf("server with an alpha checker starts %+v, want down", h)
	}
	down := &config.Script{Command: "/bin/down"}
	s := NewServer(ServerConfig{Key: key, Weight: 1, Omega: true, NotifyDown: down}, []bool{false})
	want := []Output{Notify{Server: key, Script: down, Stopping: true}}
	if got := s.Stop(); !reflect.DeepEqual(got, want) {
		t.Errorf("omega stop: got %+v, want %+v", got, want)
	}
	s = NewServer(ServerConfig{Key: key, Weight: 1, NotifyDown: down}, []bool{false})
	if got := s.Stop(); got != nil {
		t.Errorf("stop without omega: got %+v, want nothing", got)
	}
}

func TestNames(t *testing.T) {
	n := Notify{Server: ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:8080")}, Up: true}
	// keepalived names the real server with its virtual server's
	// protocol (FMT_RS), tcp when none is set.
	if got, want := n.FIFOLine(), "RS [10.0.0.2]:tcp:8080 [10.0.0.1]:tcp:80 UP\n"; got != want {
		t.Errorf("FIFOLine = %q, want %q", got, want)
	}
	n = Notify{Server: ServerKey{VS: "FWM 7", RS: netip.MustParseAddrPort("[fd00::2]:53")}, Proto: "udp"}
	if got, want := n.FIFOLine(), "RS [fd00::2]:udp:53 FWM 7 DOWN\n"; got != want {
		t.Errorf("FIFOLine = %q, want %q", got, want)
	}
	for _, c := range []struct {
		vs   config.VirtualServer
		want string
	}{
		{config.VirtualServer{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: config.ProtoTCP}, "[10.0.0.1]:tcp:80"},
		{config.VirtualServer{Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Protocol: config.ProtoUDP}, "[2001:db8::1]:udp:53"},
		{config.VirtualServer{Fwmark: 7}, "FWM 7"},
		{config.VirtualServer{Group: "web", Port: 443}, "[web]:443"},
	} {
		if got := VSName(&c.vs); got != c.want {
			t.Errorf("VSName = %q, want %q", got, c.want)
		}
	}
}

// TestServerCheckerChange: a server that knows its checkers' kinds reports
// every change of one checker (keepalived's smtp_alert cue), saying
// whether it moved the server; a report that changes nothing is silent.
func TestServerCheckerChange(t *testing.T) {
	key := ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:80")}
	s := NewServer(ServerConfig{Key: key, Weight: 1, Checkers: []config.CheckerKind{config.CheckTCP, config.CheckHTTP}}, []bool{false, true})
	changes := func(out []Output) []CheckerChange {
		var cs []CheckerChange
		for _, o := range out {
			if c, ok := o.(CheckerChange); ok {
				cs = append(cs, c)
			}
		}
		return cs
	}
	steps := []struct {
		i    int
		r    Report
		want []CheckerChange
	}{
		// Non-alpha TCP passing at first: no change.
		{0, Report{Up: true, First: true}, nil},
		// Alpha HTTP passing: its change brings the server up.
		{1, Report{Up: true, First: true}, []CheckerChange{{Server: key, Kind: config.CheckHTTP, Up: true, Alive: true, AliveChanged: true}}},
		{0, Report{Up: false, Why: "connection refused"}, []CheckerChange{{Server: key, Kind: config.CheckTCP, Up: false, Alive: false, AliveChanged: true, Why: "connection refused"}}},
		// HTTP failing too: a change of the checker, not of the server.
		{1, Report{Up: false}, []CheckerChange{{Server: key, Kind: config.CheckHTTP, Up: false, Alive: false, AliveChanged: false}}},
		{1, Report{Up: false}, nil},
		{1, Report{Up: true}, []CheckerChange{{Server: key, Kind: config.CheckHTTP, Up: true, Alive: false, AliveChanged: false}}},
		{0, Report{Up: true}, []CheckerChange{{Server: key, Kind: config.CheckTCP, Up: true, Alive: true, AliveChanged: true}}},
	}
	for n, st := range steps {
		if got := changes(s.Handle(st.i, st.r)); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d: checker changes %+v, want %+v", n, got, st.want)
		}
	}
}
