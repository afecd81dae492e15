package lvsproc

import (
	"context"
	"log/slog"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify"
	"vigil/internal/notify/script"
)

// stopScriptLimit is how long a script of a clean stop may run, as
// keepalived gives omega's notifications one second.
const stopScriptLimit = time.Second

// scriptNotes runs the LVS side's scripts through notify/script, one at a
// time in order (a quorum_down then quorum_up must not overtake each
// other), on a goroutine of its own so that the LVS loop never waits, and
// writes FIFO lines to lvs_notify_fifo (else notify_fifo).
type scriptNotes struct {
	log    *slog.Logger
	policy script.Policy
	fifo   *notify.FIFO
	queue  chan job
	done   chan struct{}
	// mailer is nil when global_defs sends no mail (no smtp_server or no
	// notification_email), as keepalived then sends none.
	mailer   *notify.Mailer
	mails    chan mailJob
	mailDone chan struct{}
}

type mailJob struct{ subject, body string }

type job struct {
	s        *config.Script
	what     string
	stopping bool
}

// queueLen bounds the scripts waiting to run; past it, one is dropped and
// logged rather than the LVS loop blocked.
const queueLen = 256

// NewNotes returns the Notes of a configuration; Close stops them.
// alone is -C: no VRRP process shares notify_fifo, so this one owns it.
func NewNotes(cfg *config.Config, log *slog.Logger, alone bool) *scriptNotes {
	n := &scriptNotes{log: log, policy: script.PolicyFrom(cfg.Global), queue: make(chan job, queueLen), done: make(chan struct{})}
	fc := cfg.Global.LVSNotifyFIFO
	if fc == nil && alone {
		fc = cfg.Global.NotifyFIFO
	} else if fc == nil && cfg.Global.NotifyFIFO != nil {
		// The shared notify_fifo: the VRRP process created it and runs
		// its reader script; this process only writes its lines to it.
		shared := *cfg.Global.NotifyFIFO
		shared.Script = nil
		fc = &shared
	}
	if fc != nil {
		f, err := notify.OpenFIFO(fc, n.policy, log)
		if err != nil {
			log.Error("notify FIFO not opened", "err", err)
		} else {
			n.fifo = f
		}
	}
	go n.worker()
	n.mailer = notify.MailerFrom(cfg.Global)
	n.mails = make(chan mailJob, queueLen)
	n.mailDone = make(chan struct{})
	go n.mailWorker()
	return n
}

// Script implements Notes.
func (n *scriptNotes) Script(s *config.Script, what string, stopping bool) {
	select {
	case n.queue <- job{s, what, stopping}:
	default:
		n.log.Error("too many notification scripts waiting; one is dropped", "script", s.Command, "what", what)
	}
}

// FIFO implements Notes.
func (n *scriptNotes) FIFO(line string) {
	if n.fifo != nil {
		n.fifo.Write(line)
	}
}

// Mail implements Notes. Mails are sent one at a time on a goroutine of
// their own, so that a slow SMTP server delays neither the LVS loop nor
// the scripts.
func (n *scriptNotes) Mail(subject, body string) {
	if n.mailer == nil {
		return
	}
	select {
	case n.mails <- mailJob{subject, body}:
	default:
		n.log.Error("too many mails waiting; one is dropped", "subject", subject)
	}
}

func (n *scriptNotes) mailWorker() {
	defer close(n.mailDone)
	for m := range n.mails {
		if err := n.mailer.SendText(m.subject, m.body); err != nil {
			n.log.Warn("SMTP alert not sent", "subject", m.subject, "err", err)
		}
	}
}

func (n *scriptNotes) worker() {
	defer close(n.done)
	for j := range n.queue {
		argv, err := config.SplitCommand(j.s.Command)
		if err != nil {
			n.log.Error("notification script not run", "what", j.what, "script", j.s.Command, "err", err)
			continue
		}
		sc, err := script.Prepare(config.Command{Argv: argv, User: j.s.User, Group: j.s.Group}, n.policy)
		if err != nil {
			n.log.Error("notification script not run", "what", j.what, "script", j.s.Command, "err", err)
			continue
		}
		var limit time.Duration
		if j.stopping {
			limit = stopScriptLimit
		}
		res := sc.Run(context.Background(), limit)
		if !res.OK() {
			n.log.Warn("notification script failed", "what", j.what, "script", j.s.Command, "result", res.String())
		}
	}
}

// Close waits for the queued scripts and mails and closes the FIFO. Each
// mail is bounded by smtp_connect_timeout.
func (n *scriptNotes) Close() {
	close(n.queue)
	close(n.mails)
	<-n.done
	<-n.mailDone
	if n.fifo != nil {
		n.fifo.Close()
	}
}
