package lvsproc

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/notify/smtptest"
)

// mailConf is twoReals with quorum 3 and placeholders for the smtp_alert
// keywords: %G% in global_defs, %VS% in the virtual server, %RS% in the
// real server 10.0.0.2.
const mailConf = `
global_defs {
  router_id LVS_T
  %G%
}
virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 3
  %VS%
  real_server 10.0.0.2 80 {
    weight 2
    %RS%
    TCP_CHECK { connect_timeout 1 }
    HTTP_GET {
      url {
        path /
        status_code 200
      }
    }
  }
  real_server 10.0.0.3 80 {
    weight 3
    TCP_CHECK { connect_timeout 1 }
  }
}
`

func mailConfig(g, vs, rs string) string {
	return strings.NewReplacer("%G%", g, "%VS%", vs, "%RS%", rs).Replace(mailConf)
}

const (
	rsDownTCP  = "[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> TCP CHECK failed on service <="
	rsDownHTTP = "[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> CHECK failed on service <="
	vsLost     = "[LVS_T] Virtualserver [10.0.0.1]:tcp:80 - DOWN|=> Lost quorum 3+0=3 <= 2 <="
)

// TestMailPrecedence drives a Side through a checker that takes 10.0.0.2
// down, a second checker failing on the server already down, and the
// loss of quorum, and checks which mails each combination of smtp_alert,
// smtp_alert_checker, no_checker_emails and the blocks' smtp_alert asks for.
func TestMailPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		g, vs, rs string
		want      []string
	}{
		{name: "defaults: real servers mail, virtual servers do not", want: []string{rsDownTCP, rsDownHTTP}},
		{name: "smtp_alert off", g: "smtp_alert off", want: nil},
		{name: "smtp_alert on", g: "smtp_alert", want: []string{rsDownTCP, rsDownHTTP, vsLost}},
		{name: "smtp_alert_checker wins over smtp_alert", g: "smtp_alert off\n smtp_alert_checker on", want: []string{rsDownTCP, rsDownHTTP, vsLost}},
		{name: "smtp_alert_checker off", g: "smtp_alert on\n smtp_alert_checker off", want: nil},
		{name: "the blocks' smtp_alert wins", g: "smtp_alert_checker off", vs: "smtp_alert on", rs: "smtp_alert on", want: []string{rsDownTCP, rsDownHTTP, vsLost}},
		{name: "the blocks' smtp_alert off", g: "smtp_alert on", vs: "smtp_alert off", rs: "smtp_alert off", want: nil},
		{name: "no_checker_emails: only the change that moves the server", g: "no_checker_emails", want: []string{rsDownTCP}},
	}
	rs2 := check.ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:80")}
	rs3 := check.ServerKey{VS: rs2.VS, RS: netip.MustParseAddrPort("10.0.0.3:80")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			notes := &recNotes{}
			s := started(t, load(t, mailConfig(tc.g, tc.vs, tc.rs)), fakeplane.New(), notes, nil)
			notes.mails = nil
			s.CheckerChange(check.CheckerChange{Server: rs2, Kind: config.CheckTCP, Up: false, Alive: false, AliveChanged: true})
			s.CheckerChange(check.CheckerChange{Server: rs2, Kind: config.CheckHTTP, Up: false, Alive: false, AliveChanged: false})
			// 10.0.0.3 (weight 3) down, 10.0.0.2 still up as far as the
			// Engine knows: weight 2 < quorum 3.
			if _, err := s.Health(ctx, check.Health{Server: rs3, Up: false, Weight: 3}); err != nil {
				t.Fatal(err)
			}
			if strings.Join(notes.mails, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("mails\n%s\nwant\n%s", strings.Join(notes.mails, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestMailOverSMTP sends the LVS side's mails through the notify FIFO and
// script runner of the LVS process (NewNotes) to an SMTP server on
// loopback: the quorum at start, a real server down and up, quorum lost and gained, and the
// omega mails of a clean stop.
func TestMailOverSMTP(t *testing.T) {
	addr, mails := smtptest.Start(t)
	host, port, _ := net.SplitHostPort(addr)
	g := "smtp_server " + host + " " + port + "\n notification_email { ops@example.org }\n notification_email_from vigil@example.org\n smtp_helo_name node1"
	cfg := load(t, strings.Replace(mailConfig(g, "smtp_alert on\n  omega", ""), "router_id LVS_T", "router_id LVS_T\n  smtp_connect_timeout 5", 1))
	notes := NewNotes(cfg, slog.New(slog.DiscardHandler), true)
	s := started(t, cfg, fakeplane.New(), notes, nil)
	rs2 := check.ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:80")}
	rs3 := check.ServerKey{VS: rs2.VS, RS: netip.MustParseAddrPort("10.0.0.3:80")}
	s.CheckerChange(check.CheckerChange{Server: rs2, Kind: config.CheckHTTP, Up: false, Alive: false, AliveChanged: true, Why: "url /health: HTTP status 503\nnot in 200-299"})
	s.CheckerChange(check.CheckerChange{Server: rs2, Kind: config.CheckHTTP, Up: true, Alive: true, AliveChanged: true})
	s.Health(ctx, check.Health{Server: rs3, Up: false, Weight: 3})
	s.Health(ctx, check.Health{Server: rs3, Up: true, Weight: 3})
	if _, err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	notes.Close()
	want := []string{
		// keepalived counts no live real server until it has added them,
		// so a virtual server starts with its quorum gained.
		"[LVS_T] Virtualserver [10.0.0.1]:tcp:80 - UP|=> Starting with quorum up 3+0=3 <= 5 <=",
		// The reason the check saw, on one line, as keepalived words
		// SMTP_CHECK's.
		"[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> CHECK failed on service : url /health: HTTP status 503 not in 200-299 <=",
		"[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP|=> CHECK succeed on service <=",
		vsLost,
		"[LVS_T] Virtualserver [10.0.0.1]:tcp:80 - UP|=> Gained quorum 3+0=3 <= 5 <=",
		"[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> Shutting down <=",
		"[LVS_T] Realserver [10.0.0.3]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> Shutting down <=",
		"[LVS_T] Virtualserver [10.0.0.1]:tcp:80 - DOWN|=> Shutting down <=",
	}
	for i, w := range want {
		var m smtptest.Mail
		select {
		case m = <-mails:
		case <-time.After(10 * time.Second): // a bound, not a timing assertion
			t.Fatalf("mail %d not received", i)
		}
		subject, body, _ := strings.Cut(w, "|")
		if m.Helo != "node1" || m.From != "MAIL FROM:<vigil@example.org>" || len(m.Rcpt) != 1 || m.Rcpt[0] != "RCPT TO:<ops@example.org>" {
			t.Fatalf("mail %d envelope %+v", i, m)
		}
		if !strings.Contains(m.Data, "Subject: "+subject+"\r\n") || !strings.Contains(m.Data, "\r\n\r\n"+body+"\r\n") {
			t.Fatalf("mail %d:\n%s\nwant subject %q body %q", i, m.Data, subject, body)
		}
	}
	select {
	case m := <-mails:
		t.Fatalf("unexpected mail:\n%s", m.Data)
	default:
	}
}

// TestMailRemoved: a reload that removes a live real server mails
// "Removing" when the removed server had smtp_alert, and a reload that
// keeps it mails nothing.
func TestMailRemoved(t *testing.T) {
	for _, tc := range []struct {
		name, rs string
		want     []string
	}{
		{name: "smtp_alert", want: []string{"[LVS_T] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN|=> Removing <="}},
		{name: "smtp_alert off", rs: "smtp_alert off", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := &recNotes{}
			s := started(t, load(t, mailConfig("", "", tc.rs)), fakeplane.New(), notes, nil)
			notes.mails = nil
			if _, err := s.Reload(ctx, load(t, mailConfig("", "", tc.rs))); err != nil {
				t.Fatal(err)
			}
			if len(notes.mails) != 0 {
				t.Fatalf("an unchanged reload mailed %q", notes.mails)
			}
			c := mailConfig("", "", tc.rs)
			a := strings.Index(c, "  real_server 10.0.0.2")
			b := strings.Index(c, "  real_server 10.0.0.3")
			// Without 10.0.0.2: quorum 3 is the weight left, so no
			// quorum change comes with it.
			if _, err := s.Reload(ctx, load(t, c[:a]+c[b:])); err != nil {
				t.Fatal(err)
			}
			if strings.Join(notes.mails, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("mails %q, want %q", notes.mails, tc.want)
			}
		})
	}
}

// TestCheckerBodies: each kind's body as keepalived words it, and a
// failure says what the check saw (on one line), in the form keepalived
// gives SMTP_CHECK's reason; a success, or a failure without a reason,
// is keepalived's body unchanged.
func TestCheckerBodies(t *testing.T) {
	tests := []struct {
		kind config.CheckerKind
		up   bool
		why  string
		want string
	}{
		{config.CheckTCP, false, "TCP connection to [10.0.0.2]:80 failed: connect: connection refused", "=> TCP CHECK failed on service : TCP connection to [10.0.0.2]:80 failed: connect: connection refused <="},
		{config.CheckTCP, true, "", "=> TCP CHECK succeed on service <="},
		{config.CheckHTTP, false, "url /: status 500", "=> CHECK failed on service : url /: status 500 <="},
		{config.CheckSSL, false, "TLS handshake:\n  bad record", "=> CHECK failed on service : TLS handshake: bad record <="},
		{config.CheckSMTP, false, `bad greeting banner from SMTP server [10.0.0.2]:25: "HTTP/1.0"`, `=> CHECK failed on service : bad greeting banner from SMTP server [10.0.0.2]:25: "HTTP/1.0" <=`},
		{config.CheckSMTP, true, "", "=> CHECK succeed on service <="},
		{config.CheckMisc, false, "misc script /x exit status 1", "=> MISC CHECK failed on service : misc script /x exit status 1 <="},
		{config.CheckUDP, false, "no reply", "=> UDP CHECK failed on service : no reply <="},
		{config.CheckPing, false, "no echo reply", "=> ICMP CHECK failed on service : no echo reply <="},
		{config.CheckFile, false, "tracked file value 1", "=> FILE CHECK failed on service : tracked file value 1 <="},
		{config.CheckDNS, false, "malformed DNS reply", "=> DNS_CHECK: failed on service : malformed DNS reply <="},
		{config.CheckDNS, false, "", "=> DNS_CHECK: failed on service <="},
	}
	for _, tc := range tests {
		if got := checkerBody(tc.kind, tc.up, tc.why); got != tc.want {
			t.Errorf("%s up=%v why=%q: %q, want %q", tc.kind, tc.up, tc.why, got, tc.want)
		}
	}
}
