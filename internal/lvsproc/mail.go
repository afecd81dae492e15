package lvsproc

import (
	"fmt"
	"strings"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/lvs"
)

// mailPolicy is who gets keepalived's checker-side mail (smtp_alert),
// resolved from a configuration as keepalived 2.2.7 resolves it. It is
// resolved when a mail is due, from the virtual servers by id (a map the
// Side keeps up to date as reloads change it), rather than resolved for
// every real server at each reload.
type mailPolicy struct {
	routerID string
	// alertChecker and alert are global_defs' smtp_alert_checker and
	// smtp_alert.
	alertChecker, alert *bool
	// noCheckerEmails keeps only the checker changes that change the
	// real server.
	noCheckerEmails bool
	// byID are the virtual servers by id.
	byID map[lvs.VSID]*config.VirtualServer
}

// mailPolicyOf is the policy of cfg's global_defs over the virtual
// servers byID.
func mailPolicyOf(cfg *config.Config, byID map[lvs.VSID]*config.VirtualServer) mailPolicy {
	g := cfg.Global
	return mailPolicy{routerID: g.RouterID, alertChecker: g.SMTPAlertChecker, alert: g.SMTPAlert, noCheckerEmails: g.NoCheckerEmails, byID: byID}
}

// resolve is smtp_alert of a virtual or real server whose own setting is
// own: its own, else smtp_alert_checker, else smtp_alert, else dflt (on
// for a real server, keepalived keeping this default for backward
// compatibility, off for a virtual server).
func (p mailPolicy) resolve(own *bool, dflt bool) bool {
	switch {
	case own != nil:
		return *own
	case p.alertChecker != nil:
		return *p.alertChecker
	case p.alert != nil:
		return *p.alert
	}
	return dflt
}

// real finds a real server of the configuration by id.
func (p mailPolicy) real(id lvs.RealID) *config.RealServer {
	vs := p.byID[id.VS]
	if vs == nil {
		return nil
	}
	for _, rs := range vs.RealServers {
		if rs.Addr == id.Real.Addr() && rs.Port == id.Real.Port() {
			return rs
		}
	}
	return nil
}

// rsAlert is a real server's smtp_alert (false for one not configured).
func (p mailPolicy) rsAlert(id lvs.RealID) bool {
	rs := p.real(id)
	return rs != nil && p.resolve(rs.SMTPAlert, true)
}

// vsAlert is a virtual server's smtp_alert, for its quorum changes.
func (p mailPolicy) vsAlert(id lvs.VSID) bool {
	vs := p.byID[id]
	return vs != nil && p.resolve(vs.SMTPAlert, false)
}

// proto is the protocol keepalived names a virtual server's real servers
// with ("[addr]:proto:port", FMT_RS).
func (p mailPolicy) proto(id lvs.VSID) string {
	if vs := p.byID[id]; vs != nil {
		return check.ProtoName(vs)
	}
	return strings.ToLower(id.Protocol.String())
}

// checkerMail is the mail of a checker's change, if one is due: with the
// real server's smtp_alert, for every change of a checker, or with
// no_checker_emails only for one that moves the server.
func (p mailPolicy) checkerMail(id lvs.RealID, c check.CheckerChange) (subject, body string, ok bool) {
	if !p.rsAlert(id) || (p.noCheckerEmails && !c.AliveChanged) {
		return "", "", false
	}
	return p.rsSubject(id.VS, c.Server, c.Alive), checkerBody(c.Kind, c.Up, c.Why), true
}

// rsSubject is "[router_id] Realserver [addr]:proto:port of virtual
// server VS - UP"; vs gives the protocol.
func (p mailPolicy) rsSubject(vs lvs.VSID, k check.ServerKey, alive bool) string {
	return fmt.Sprintf("[%s] Realserver %s of virtual server %s - %s", p.routerID, check.RSTrio(k.RS, p.proto(vs)), k.VS, upDown(alive))
}

// stopMail is the mail of a real server that omega takes down at a clean
// stop; no_checker_emails does not apply to it.
func (p mailPolicy) stopMail(ev lvs.Event) (subject, body string, ok bool) {
	if !p.rsAlert(lvs.RealID{VS: ev.VS, Real: ev.Real}) {
		return "", "", false
	}
	return p.rsSubject(ev.VS, check.ServerKey{VS: p.name(ev.VS), RS: ev.Real}, false), "=> Shutting down <=", true
}

// has tells whether the configuration has this real server.
func (p mailPolicy) has(id lvs.RealID) bool {
	return p.real(id) != nil
}

// removeMail is the mail of a live real server that a reload removes.
func (p mailPolicy) removeMail(ev lvs.Event) (subject, body string, ok bool) {
	if !p.rsAlert(lvs.RealID{VS: ev.VS, Real: ev.Real}) {
		return "", "", false
	}
	return p.rsSubject(ev.VS, check.ServerKey{VS: p.name(ev.VS), RS: ev.Real}, false), "=> Removing <=", true
}

// quorumMail is the mail of a virtual server's quorum change;
// quorum and hysteresis are the virtual server's.
func (p mailPolicy) quorumMail(ev lvs.Event, quorum, hysteresis int64) (subject, body string, ok bool) {
	if !p.vsAlert(ev.VS) {
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
	if vs := p.byID[id]; vs != nil {
		return check.VSName(vs)
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
