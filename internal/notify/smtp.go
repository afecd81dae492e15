package notify

import (
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"vigil/internal/config"
)

// Mailer sends keepalived's SMTP alerts.
type Mailer struct {
	// Server is host:port.
	Server string
	From   string
	To     []string
	// Helo is the HELO name; New defaults it to the local host name, as
	// keepalived does, and Send falls back to "localhost" when it is empty.
	Helo     string
	RouterID string
	Timeout  time.Duration
	// Now stamps the Date header; default time.Now.
	Now func() time.Time
}

// MailerFrom builds the mailer of global_defs, or nil when no mail can be
// sent (no smtp_server or no notification_email).
func MailerFrom(g config.GlobalDefs) *Mailer {
	if g.SMTPServer == nil || g.SMTPServer.Host == "" || len(g.NotificationEmail) == 0 {
		return nil
	}
	port := g.SMTPServer.Port
	if port == 0 {
		port = 25
	}
	m := &Mailer{
		Server:   net.JoinHostPort(g.SMTPServer.Host, strconv.Itoa(port)),
		From:     g.NotificationEmailFrom,
		To:       append([]string(nil), g.NotificationEmail...),
		Helo:     g.SMTPHeloName,
		RouterID: g.RouterID,
		Timeout:  g.SMTPConnectTimeout,
	}
	if m.Timeout <= 0 {
		m.Timeout = 30 * time.Second
	}
	return m
}

// alertText is keepalived's subject suffix and body for a transition; ok is
// false for states that send no mail.
func alertText(ev Event) (subject, body string, ok bool) {
	group := ev.Kind == KindGroup
	switch ev.State {
	case StateMaster:
		if group {
			return "Entering MASTER state", "=> All VRRP group instances are now in MASTER state <=", true
		}
		return "Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=", true
	case StateBackup:
		if group {
			return "Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <=", true
		}
		return "Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <=", true
	case StateFault:
		if group {
			return "Entering FAULT state", "=> All VRRP group instances are now in FAULT state <=", true
		}
		return "Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <=", true
	case StateStop:
		if group {
			return "Stopping", "=> All VRRP group instances are now stopping <=", true
		}
		return "Stopping", "=> VRRP Instance stopping <=", true
	}
	return "", "", false
}

// Subject is the mail subject for ev, e.g.
// "[LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state".
func (m *Mailer) Subject(ev Event) string {
	s, _, _ := alertText(ev)
	what := "VRRP Instance"
	if ev.Kind == KindGroup {
		what = "VRRP Group"
	}
	return fmt.Sprintf("[%s] %s %s - %s", m.RouterID, what, ev.Name, s)
}

// Message is the full message (headers and body) for ev, CRLF-terminated.
func (m *Mailer) Message(ev Event) []byte {
	_, body, _ := alertText(ev)
	return m.Text(m.Subject(ev), body)
}

// Text is a full message (headers and body) with this subject and body,
// CRLF-terminated: the LVS side's alerts have texts of their own.
func (m *Mailer) Text(subject, body string) []byte {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s\r\n", now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	b.WriteString("X-Mailer: Keepalived\r\n")
	fmt.Fprintf(&b, "To: %s\r\n\r\n", strings.Join(m.To, ", "))
	b.WriteString(body + "\r\n")
	return []byte(b.String())
}

// Send mails the alert for ev to every recipient in one SMTP session. The
// timeout bounds the connection and the whole exchange.
func (m *Mailer) Send(ev Event) error {
	if _, _, ok := alertText(ev); !ok {
		return fmt.Errorf("smtp: no alert for state %s", ev.State)
	}
	return m.send(m.Message(ev))
}

// SendText mails a message with this subject and body to every recipient,
// as Send does.
func (m *Mailer) SendText(subject, body string) error {
	return m.send(m.Text(subject, body))
}

func (m *Mailer) send(msg []byte) error {
	conn, err := net.DialTimeout("tcp", m.Server, m.Timeout)
	if err != nil {
		return fmt.Errorf("smtp: connecting to %s: %w", m.Server, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(m.Timeout))
	host, _, _ := net.SplitHostPort(m.Server)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp: %s: %w", m.Server, err)
	}
	defer c.Close()
	helo := m.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("smtp: HELO: %w", err)
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp: RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of message: %w", err)
	}
	return c.Quit()
}
