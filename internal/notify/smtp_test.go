package notify

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/smtptest"
)

func TestMailerSend(t *testing.T) {
	addr, mails := smtptest.Start(t)
	host, port, _ := net.SplitHostPort(addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	g := config.GlobalDefs{
		RouterID:              "LVS_DEVEL",
		NotificationEmail:     []string{"ops@example.org", "oncall@example.org"},
		NotificationEmailFrom: "vigil@example.org",
		SMTPServer:            &config.SMTPServer{Host: host, Port: p},
		SMTPHeloName:          "node1",
		SMTPConnectTimeout:    5 * time.Second,
	}
	m := MailerFrom(g)
	tests := []struct {
		ev      Event
		subject string
		body    string
	}{
		{Event{KindInstance, "VI_1", StateMaster, 100}, "[LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="},
		{Event{KindInstance, "VI_1", StateBackup, 100}, "[LVS_DEVEL] VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{Event{KindInstance, "VI_1", StateStop, 100}, "[LVS_DEVEL] VRRP Instance VI_1 - Stopping", "=> VRRP Instance stopping <="},
		{Event{KindGroup, "G1", StateFault, 0}, "[LVS_DEVEL] VRRP Group G1 - Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="},
	}
	for _, tc := range tests {
		if err := m.Send(tc.ev); err != nil {
			t.Fatalf("%+v: %v", tc.ev, err)
		}
		var got smtptest.Mail
		select {
		case got = <-mails:
		case <-time.After(5 * time.Second):
			t.Fatal("no mail received")
		}
		if got.Helo != "node1" || got.From != "MAIL FROM:<vigil@example.org>" || len(got.Rcpt) != 2 ||
			got.Rcpt[0] != "RCPT TO:<ops@example.org>" || got.Rcpt[1] != "RCPT TO:<oncall@example.org>" {
			t.Fatalf("envelope %+v", got)
		}
		for _, want := range []string{
			"Subject: " + tc.subject + "\r\n",
			"From: vigil@example.org\r\n",
			"To: ops@example.org, oncall@example.org\r\n",
			"X-Mailer: Keepalived\r\n",
			"\r\n\r\n" + tc.body + "\r\n",
		} {
			if !strings.Contains(got.Data, want) {
				t.Fatalf("message lacks %q:\n%s", want, got.Data)
			}
		}
		if !strings.HasPrefix(got.Data, "Date: ") {
			t.Fatalf("no Date header first:\n%s", got.Data)
		}
	}
	if err := m.Send(Event{KindInstance, "VI_1", StateMasterPriority, 1}); err == nil {
		t.Fatal("a mail for a priority event was accepted")
	}
}

func TestMailerConnectError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	m := &Mailer{Server: addr, From: "a@b", To: []string{"c@d"}, Timeout: time.Second}
	if err := m.Send(Event{KindInstance, "VI_1", StateMaster, 1}); err == nil {
		t.Fatal("sending to a closed port succeeded")
	}
}

// TestNotifierMail checks which transitions are mailed: smtp_alert per
// instance, no repeat of the same state, no_email_faults.
func TestNotifierMail(t *testing.T) {
	addr, mails := smtptest.Start(t)
	host, port, _ := net.SplitHostPort(addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	cfg := &config.Config{
		Global: config.GlobalDefs{
			RouterID: "r1", NotificationEmail: []string{"ops@example.org"}, NotificationEmailFrom: "v@example.org",
			SMTPServer: &config.SMTPServer{Host: host, Port: p}, SMTPConnectTimeout: 5 * time.Second, NoEmailFaults: true,
		},
		Instances: []*config.VRRPInstance{{Name: "VI_1", SMTPAlert: true}, {Name: "VI_2"}},
	}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(Event{KindInstance, "VI_2", StateMaster, 100}) // no smtp_alert
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 100})
	n.Notify(Event{KindInstance, "VI_1", StateMaster, 100}) // same state again: no mail
	n.Notify(Event{KindInstance, "VI_1", StateFault, 100})  // no_email_faults
	n.Notify(Event{KindInstance, "VI_1", StateBackup, 100})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for len(mails) > 0 {
		m := <-mails
		for _, l := range strings.Split(m.Data, "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subjects = append(subjects, s)
			}
		}
	}
	want := []string{"[r1] VRRP Instance VI_1 - Entering MASTER state", "[r1] VRRP Instance VI_1 - Entering BACKUP state"}
	if strings.Join(subjects, "|") != strings.Join(want, "|") {
		t.Fatalf("mailed %q, want %q", subjects, want)
	}
	if c := n.Counters(); c.MailsSent != 2 || c.MailErrors != 0 {
		t.Fatalf("counters %+v", c)
	}
}
