package lvsproc

import (
	"fmt"
	"net/netip"
	"strings"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/lvs"
)

// mailPolicy is who gets keepalived's checker-side mail (smtp_alert),
// resolved from a configuration as keepalived 2.2.7 resolves it.
type mailPolicy struct {
	routerID string
	// rs is each real server's smtp_alert: its own, else global_defs'
	// smtp_alert_checker, else smtp_alert, else on (keepalived keeps this
	// default on for backward compatibility, unlike the others).
	rs map[lvs.RealID]bool
	// vs is each virtual server's smtp_alert, for its quorum changes: its
	// own, else smtp_alert_checker, else smtp_alert, else off.
	vs map[lvs.VSID]bool
	// noCheckerEmails keeps only the checker changes that change the
	// real server.
	noCheckerEmails bool
	// vsName is keepalived's name of each virtual server, as in the
	// checkers' mails.
	vsName map[lvs.VSID]string
	// vsProto is the protocol keepalived names each virtual server's
	// real servers with ("[addr]:proto:port", FMT_RS).
	vsProto map[lvs.VSID]string
}

func mailPolicyOf(cfg *config.Config) mailPolicy {
	g := cfg.Global
	nvs := len(cfg.VirtualServers)
	p := mailPolicy{routerID: g.RouterID, rs: make(map[lvs.RealID]bool, realsOf(cfg)), vs: make(map[lvs.VSID]bool, nvs),
		vsName: make(map[lvs.VSID]string, nvs), vsProto: make(map[lvs.VSID]string, nvs), noCheckerEmails: g.NoCheckerEmails}
	resolve := func(own *bool, dflt bool) bool {
		switch {
		case own != nil:
			return *own
		case g.SMTPAlertChecker != nil:
			return *g.SMTPAlertChecker
		case g.SMTPAlert != nil:
			return *g.SMTPAlert
		}
		return dflt
	}
	for _, vs := range cfg.VirtualServers {
		id := lvs.IDOf(vs)
		p.vs[id] = resolve(vs.SMTPAlert, false)
		p.vsName[id] = check.VSName(vs)
		p.vsProto[id] = check.ProtoName(vs)
		for _, rs := range vs.RealServers {
			p.rs[lvs.RealID{VS: id, Real: netip.AddrPortFrom(rs.Addr, rs.Port)}] = resolve(rs.SMTPAlert, true)
		}
	}
	return p
}

// checkerMail is the mail of a checker's change, if one is due: with the
// real server's smtp_alert, for every change of a checker, or with
// no_checker_emails only for one that moves the server.
func (p mailPolicy) checkerMail(id lvs.RealID, c check.CheckerChange) (subject, body string, ok bool) {
	if !p.rs[id] || (p.noCheckerEmails && !c.AliveChanged) {
		return "", "", false
	}
	return p.rsSubject(id.VS, c.Server, c.Alive), checkerBody(c.Kind, c.Up, c.Why), true
}

// rsSubject is "[router_id] Realserver [addr]:proto:port of virtual
// server VS - UP"; vs gives the protocol.
func (p mailPolicy) rsSubject(vs lvs.VSID, k check.ServerKey, alive bool) string {
	return fmt.Sprintf("[%s] Realserver %s of virtual server %s - %s", p.routerID, check.RSTrio(k.RS, p.vsProto[vs]), k.VS, upDown(alive))
}

// stopMail is the mail of a real server that omega takes down at a clean
// stop; no_checker_emails does not apply to it.
func (p mailPolicy) stopMail(ev lvs.Event) (subject, body string, ok bool) {
	if !p.rs[lvs.RealID{VS: ev.VS, Real: ev.Real}] {
		return "", "", false
	}
	return p.rsSubject(ev.VS, check.ServerKey{VS: p.name(ev.VS), RS: ev.Real}, false), "=> Shutting down <=", true
}

// has tells whether the configuration has this real server.
func (p mailPolicy) has(id lvs.RealID) bool {
	_, ok := p.rs[id]
	return ok
}

// removeMail is the mail of a live real server that a reload removes.
func (p mailPolicy) removeMail(ev lvs.Event) (subject, body string, ok bool) {
	if !p.rs[lvs.RealID{VS: ev.VS, Real: ev.Real}] {
		return "", "", false
	}
	return p.rsSubject(ev.VS, check.ServerKey{VS: p.name(ev.VS), RS: ev.Real}, false), "=> Removing <=", true
}

// quorumMail is the mail of a virtual server's quorum change;
// quorum and hysteresis are the virtual server's.
func (p mailPolicy) quorumMail(ev lvs.Event, quorum, hysteresis int64) (subject, body string, ok bool) {
	if !p.vs[ev.VS] {
		return "", "", false
	}
	up := ev.Kind == lvs.QuorumUp
	subject = fmt.Sprintf("[%s] Virtualserver %s - %s", p.routerID, p.name(ev.VS), upDown(up))
	if ev.Stopping {
		return subject, "=> Shutting down <=", true
	}
	what := "Lost quorum"
	switch {
	case up && ev.Init:
		what = "Starting with quorum up"
	case up:
		what = "Gained quorum"
	case ev.Init:
		what = "Starting with quorum down"
	}
	// keepalived writes "+" for a loss too.
	return subject, fmt.Sprintf("=> %s %d+%d=%d <= %d <=", what, quorum, hysteresis, ev.Threshold, ev.WeightSum), true
}

func (p mailPolicy) name(id lvs.VSID) string {
	if n, ok := p.vsName[id]; ok {
		return n
	}
	return id.String()
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// checkerBody is keepalived's body for a checker that succeeds or fails:
// each kind words it its own way. A failure says what the check saw, in
// the form keepalived gives SMTP_CHECK's ("=> CHECK failed on service :
// REASON <="), for every kind: keepalived's other kinds say no more than
// "failed", and its HTTP_GET and SSL_GET only "HTTP request failed".
func checkerBody(k config.CheckerKind, up bool, why string) string {
	verb := "failed"
	if up {
		verb = "succeed"
	}
	var head string
	switch k {
	case config.CheckTCP:
		head = "=> TCP CHECK " + verb + " on service"
	case config.CheckMisc:
		head = "=> MISC CHECK " + verb + " on service"
	case config.CheckUDP:
		head = "=> UDP CHECK " + verb + " on service"
	case config.CheckPing:
		head = "=> ICMP CHECK " + verb + " on service"
	case config.CheckFile:
		head = "=> FILE CHECK " + verb + " on service"
	case config.CheckDNS:
		head = "=> DNS_CHECK: " + verb + " on service"
	default:
		// HTTP_GET, SSL_GET, SMTP_CHECK.
		head = "=> CHECK " + verb + " on service"
	}
	if !up && why != "" {
		return head + " : " + oneLine(why) + " <="
	}
	return head + " <="
}

// oneLine keeps a reason to one line of a mail body.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
