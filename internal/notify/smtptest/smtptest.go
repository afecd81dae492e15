// Package smtptest is a minimal SMTP server on loopback for tests of the
// code that sends keepalived's SMTP alerts.
package smtptest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// Mail is what the server received in one session.
type Mail struct {
	// Helo is the HELO/EHLO name; From and Rcpt the MAIL and RCPT lines
	// as sent; Data the message without its final dot.
	Helo, From string
	Rcpt       []string
	Data       string
}

// Start listens on 127.0.0.1 until the test ends and returns its address
// and the sessions it receives (HELO/EHLO, MAIL, RCPT, DATA, QUIT), each
// sent on the channel before QUIT is answered.
func Start(t testing.TB) (addr string, mails <-chan Mail) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), Serve(t, ln)
}

// Serve is Start on a listener of the caller's (one made in a test's
// network namespace, say); it closes ln when the test ends.
func Serve(t testing.TB, ln net.Listener) <-chan Mail {
	t.Cleanup(func() { ln.Close() })
	ch := make(chan Mail, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c, ch)
		}
	}()
	return ch
}

func serve(c net.Conn, ch chan<- Mail) {
	defer c.Close()
	// A bound on a stuck client, not a timing assertion.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	var m Mail
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch strings.ToUpper(strings.SplitN(line, " ", 2)[0]) {
		case "EHLO", "HELO":
			m.Helo = strings.TrimSpace(line[4:])
			say("250 test")
		case "MAIL":
			m.From = line
			say("250 ok")
		case "RCPT":
			m.Rcpt = append(m.Rcpt, line)
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			m.Data = b.String()
			say("250 queued")
		case "QUIT":
			ch <- m
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}
