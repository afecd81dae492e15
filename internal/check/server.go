package check

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"

	"vigil/internal/config"
)

// ServerKey names one real server of one virtual server. VS is the virtual
// server as keepalived prints it (VSName), so that the key is stable across
// reloads and readable in logs and FIFO lines.
type ServerKey struct {
	VS string
	RS netip.AddrPort
}

// String is keepalived's "[addr]:port" form of the real server.
func (k ServerKey) String() string { return RSName(k.RS) }

// Output is what the checkers tell the rest of the LVS side: Health or
// Notify.
type Output interface{ output() }

// Health is the state of a real server within a virtual server: whether
// all its checkers pass, and its weight with the checkers' dynamic weights
// applied (clamped to 0..2^31-1 as IPVS wants it).
type Health struct {
	Server ServerKey
	Up     bool
	Weight int
}

// Notify asks for a real server's notify_up or notify_down (Script, nil
// when none is configured) and its notify_fifo / lvs_notify_fifo line.
// keepalived runs these scripts with the arguments written in the
// configuration and nothing added.
type Notify struct {
	Server ServerKey
	Up     bool
	Script *config.Script
	// Stopping is set for the notifications of omega at shutdown, which
	// keepalived runs with a one second time limit.
	Stopping bool
	// Proto is the virtual server's protocol as keepalived names it in
	// a real server ("tcp", "udp", "sctp"; empty is tcp, its default).
	Proto string
}

// FIFOLine is the notify_fifo line keepalived writes for this change,
// with its newline.
func (n Notify) FIFOLine() string {
	st := "DOWN"
	if n.Up {
		st = "UP"
	}
	return fmt.Sprintf("RS %s %s %s\n", RSTrio(n.Server.RS, n.Proto), n.Server.VS, st)
}

// CheckerChange reports that one checker of a real server changed state,
// whether or not the server did: keepalived mails each such change
// (smtp_alert) unless no_checker_emails keeps only those that change the
// server. It is reported only for servers whose ServerConfig names the
// kinds of its checkers.
type CheckerChange struct {
	Server ServerKey
	Kind   config.CheckerKind
	// Up is the checker's new state; Alive the server's after it, and
	// AliveChanged whether this change moved the server.
	Up, Alive, AliveChanged bool
	// Why is what the failing check saw, when the checker went down.
	Why string
}

func (Health) output()        {}
func (Notify) output()        {}
func (CheckerChange) output() {}

// ServerConfig is what the real server rules need from a real_server block
// within its virtual server.
type ServerConfig struct {
	Key ServerKey
	// Weight is the configured weight, the base the dynamic weights apply
	// to.
	Weight     int
	NotifyUp   *config.Script
	NotifyDown *config.Script
	// Omega is the virtual server's omega: at shutdown, a real server that
	// is up gets its notify_down.
	Omega bool
	// Proto is the virtual server's protocol, for the FIFO line (ProtoName).
	Proto string
	// Checkers are the kinds of the server's checkers, indexed like them;
	// when set, Handle reports each checker's changes (CheckerChange).
	Checkers []config.CheckerKind
}

// Server holds the health of one real server of one virtual server from
// the reports of its checkers, with keepalived's rules: it is up when every
// checker is up; the first checker to fail takes it down, the last one to
// recover brings it back; the notify scripts run on each change, and once
// at start for a server that an alpha checker keeps down.
type Server struct {
	// cfg is the ServerSpec's own (newServer): the LVS process holds
	// one Server per real server, and a copy of the configuration in
	// each was most of its size.
	cfg *ServerConfig
	// slots are the checkers' states, one per checker.
	slots  []slot
	weight int
	alive  bool
}

// slot is one checker of a Server: up or down, its dynamic weight as a
// difference from the configured weight, and whether it started down
// under alpha.
type slot struct {
	delta int
	up    bool
	alpha bool
}

// NewServer returns a server whose checkers start as given by alpha (an
// alpha checker starts down). A server without checkers is always up.
func NewServer(cfg ServerConfig, alpha []bool) *Server {
	return newServer(&cfg, alpha)
}

// newServer is NewServer on a configuration the server shares with its
// ServerSpec, which must not change it afterwards.
func newServer(cfg *ServerConfig, alpha []bool) *Server {
	s := &Server{cfg: cfg}
	if len(alpha) > 0 {
		s.slots = make([]slot, len(alpha))
		for i, a := range alpha {
			s.slots[i] = slot{up: !a, alpha: a}
		}
	}
	s.alive = s.allUp()
	s.weight = s.effective()
	return s
}

// checkers is the number of the server's checkers.
func (s *Server) checkers() int { return len(s.slots) }

// Health returns the server's current health.
func (s *Server) Health() Health {
	return Health{Server: s.cfg.Key, Up: s.alive, Weight: s.weight}
}

func (s *Server) allUp() bool {
	for _, c := range s.slots {
		if !c.up {
			return false
		}
	}
	return true
}

func (s *Server) effective() int {
	w := int64(s.cfg.Weight)
	for _, c := range s.slots {
		w += int64(c.delta)
	}
	return int(min(max(w, 0), math.MaxInt32))
}

// seed sets checker i's state without reporting anything: a reload
// rebuilds its servers from the checks that carry on.
func (s *Server) seed(i int, r Report) {
	if i < 0 || i >= len(s.slots) {
		return
	}
	s.set(i, r)
	s.alive = s.allUp()
	s.weight = s.effective()
}

// clearAlpha forgets that checker i started down under alpha (a reload
// started it up), so that its first success is not notified as a change.
func (s *Server) clearAlpha(i int) {
	if i >= 0 && i < len(s.slots) {
		s.slots[i].alpha = false
	}
}

func (s *Server) set(i int, r Report) {
	c := &s.slots[i]
	c.up = r.Up
	switch {
	case !r.Up || !r.HasWeight:
		c.delta = 0
	case r.WeightIsDelta:
		c.delta = r.Weight
	default:
		// misc_dynamic sets the weight itself; held as the difference
		// from the configured weight so that several checkers add up.
		c.delta = r.Weight - s.cfg.Weight
	}
}

// Handle applies the Report of checker i and returns what changes.
func (s *Server) Handle(i int, r Report) []Output {
	if i < 0 || i >= len(s.slots) {
		return nil
	}
	was := s.slots[i].up
	s.set(i, r)
	wasAlive, wasWeight := s.alive, s.weight
	s.alive = s.allUp()
	s.weight = s.effective()

	var out []Output
	if s.alive != wasAlive || s.weight != wasWeight {
		out = append(out, s.Health())
	}
	if s.alive != wasAlive {
		out = append(out, s.notify())
	} else if r.First && was == r.Up && (s.slots[i].alpha || !s.alive) {
		// keepalived reports the initial state of a server kept down
		// from the start (alpha), as if it had just changed.
		out = append(out, s.notify())
	}
	if was != r.Up && i < len(s.cfg.Checkers) {
		out = append(out, CheckerChange{Server: s.cfg.Key, Kind: s.cfg.Checkers[i], Up: r.Up, Alive: s.alive, AliveChanged: s.alive != wasAlive, Why: r.Why})
	}
	return out
}

func (s *Server) notify() Notify {
	n := Notify{Server: s.cfg.Key, Up: s.alive, Script: s.cfg.NotifyDown, Proto: s.cfg.Proto}
	if s.alive {
		n.Script = s.cfg.NotifyUp
	}
	return n
}

// Stop returns the notifications due at shutdown: with omega, a server
// that is up is reported down.
func (s *Server) Stop() []Output {
	if !s.cfg.Omega || !s.alive {
		return nil
	}
	return []Output{Notify{Server: s.cfg.Key, Up: false, Script: s.cfg.NotifyDown, Stopping: true, Proto: s.cfg.Proto}}
}

// RSName is keepalived's "[addr]:port" form of a real server.
func RSName(ap netip.AddrPort) string {
	// Concatenated, not formatted: a configuration test names every
	// checker of every real server (docs/BENCHMARKS.md).
	return "[" + ap.Addr().String() + "]:" + strconv.Itoa(int(ap.Port()))
}

// RSTrio is keepalived's "[addr]:proto:port" form of a real server, with
// its virtual server's protocol (empty is tcp), as notify_fifo lines and
// its logs name it.
func RSTrio(ap netip.AddrPort, proto string) string {
	if proto == "" {
		proto = "tcp"
	}
	return "[" + ap.Addr().String() + "]:" + proto + ":" + strconv.Itoa(int(ap.Port()))
}

// ProtoName is keepalived's name of a virtual server's protocol ("tcp",
// "udp", "sctp"); a fwmark or group virtual server has one too (tcp unless
// set).
func ProtoName(vs *config.VirtualServer) string {
	switch vs.Protocol {
	case config.ProtoUDP:
		return "udp"
	case config.ProtoSCTP:
		return "sctp"
	}
	return "tcp"
}

// VSName is keepalived's form of a virtual server: "[addr]:proto:port",
// "FWM mark" or "[group]:port".
func VSName(vs *config.VirtualServer) string {
	switch {
	case vs.Group != "":
		return "[" + vs.Group + "]:" + strconv.Itoa(int(vs.Port))
	case vs.Fwmark != 0:
		return "FWM " + strconv.FormatUint(uint64(vs.Fwmark), 10)
	default:
		return "[" + vs.Addr.String() + "]:" + ProtoName(vs) + ":" + strconv.Itoa(int(vs.Port))
	}
}
