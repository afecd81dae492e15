package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

// Runner runs a script once; *script.Script implements it.
type Runner interface {
	Run(ctx context.Context, timeout time.Duration, extra ...string) script.Result
}

// Scripts are the prepared notify scripts of one instance or sync group;
// nil means not configured (or disabled).
type Scripts struct {
	Master, Backup, Fault, Stop, Deleted Runner
	// Any is the generic "notify" script, run after the state's own one
	// with INSTANCE|GROUP, name, state and priority appended.
	Any Runner
	// MasterRxLowerPri is notify_master_rx_lower_pri.
	MasterRxLowerPri Runner
}

// Options tune a Notifier; the zero value is usable.
type Options struct {
	Log *slog.Logger
	// QueueLen bounds each instance's queue of pending script runs (and the
	// mail queue); default 64. Events beyond it are dropped and counted.
	QueueLen int
	// ScriptTimeout bounds one notify script run, so that a hung script
	// cannot hold back the instance's later notifications for ever;
	// default 60 s.
	ScriptTimeout time.Duration
	// Prepare resolves a script; default script.Prepare. Tests replace it.
	Prepare func(config.Command, script.Policy) (Runner, error)
}

// Counters are the notifier's statistics.
type Counters struct {
	// Dropped counts events not queued because the queue was full.
	Dropped uint64
	// ScriptFailures counts notify script runs that did not exit 0.
	ScriptFailures uint64
	// MailsSent and MailErrors count SMTP alerts.
	MailsSent, MailErrors uint64
	// FIFODropped counts lines a FIFO could not take.
	FIFODropped uint64
}

type target struct {
	scripts  Scripts
	smtp     bool
	lastMail string // the state last mailed about, as keepalived: no repeats
	queue    chan job
}

type job struct {
	run   Runner
	extra []string
	what  string
}

// Notifier delivers events. Create it with New, feed it with Notify, stop
// it with Close.
type Notifier struct {
	log      *slog.Logger
	opts     Options
	targets  map[string]*target // key: kind + " " + name
	fifos    []*FIFO
	mailer   *Mailer
	noFault  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	problems []error

	mu       sync.Mutex // guards counters, lastMail and closed
	closed   bool
	counters Counters
	mails    chan Event
}

func key(kind, name string) string { return kind + " " + name }

// New prepares every notify script of cfg's instances and sync groups,
// opens the notify FIFOs (starting their scripts) and sets up SMTP alerts.
// A script that cannot run is disabled, logged and listed by Problems, as
// keepalived does; a FIFO that cannot be opened is an error.
func New(cfg *config.Config, opts Options) (*Notifier, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 64
	}
	if opts.ScriptTimeout <= 0 {
		opts.ScriptTimeout = 60 * time.Second
	}
	policy := script.PolicyFrom(cfg.Global)
	if opts.Prepare == nil {
		log := opts.Log
		opts.Prepare = func(c config.Command, p script.Policy) (Runner, error) {
			s, err := script.Prepare(c, p)
			if err != nil {
				return nil, err
			}
			for _, w := range s.Warnings {
				log.Warn(w)
			}
			return s, nil
		}
	}
	n := &Notifier{log: opts.Log, opts: opts, targets: map[string]*target{}, mailer: MailerFrom(cfg.Global), noFault: cfg.Global.NoEmailFaults}
	if n.mailer != nil {
		// keepalived's defaults all come from the local host name: the
		// router_id, the HELO name and the sender keepalived@<host>.
		host, _ := os.Hostname()
		if n.mailer.RouterID == "" {
			n.mailer.RouterID = host
		}
		if n.mailer.Helo == "" {
			n.mailer.Helo = host
		}
		if n.mailer.From == "" && host != "" {
			n.mailer.From = "keepalived@" + host
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())

	prep := func(owner, kw string, c *config.Command) Runner {
		if c == nil {
			return nil
		}
		r, err := opts.Prepare(*c, policy)
		if err != nil {
			err = fmt.Errorf("%s: %s disabled: %w", owner, kw, err)
			n.log.Error("notify script cannot run", "err", err)
			n.problems = append(n.problems, err)
			return nil
		}
		return r
	}
	scripts := func(owner string, nt config.Notify) Scripts {
		return Scripts{
			Master:           prep(owner, "notify_master", nt.Master),
			Backup:           prep(owner, "notify_backup", nt.Backup),
			Fault:            prep(owner, "notify_fault", nt.Fault),
			Stop:             prep(owner, "notify_stop", nt.Stop),
			Deleted:          prep(owner, "notify_deleted", nt.Deleted),
			Any:              prep(owner, "notify", nt.Any),
			MasterRxLowerPri: prep(owner, "notify_master_rx_lower_pri", nt.MasterRxLowerPri),
		}
	}
	globalAlert := func() bool {
		if cfg.Global.SMTPAlertVRRP != nil {
			return *cfg.Global.SMTPAlertVRRP
		}
		return cfg.Global.SMTPAlert != nil && *cfg.Global.SMTPAlert
	}
	for _, in := range cfg.Instances {
		n.targets[key(KindInstance, in.Name)] = &target{scripts: scripts("vrrp_instance "+in.Name, in.Notify), smtp: in.SMTPAlert}
	}
	for _, g := range cfg.SyncGroups {
		alert := globalAlert()
		if g.SMTPAlert != nil {
			alert = *g.SMTPAlert
		}
		n.targets[key(KindGroup, g.Name)] = &target{scripts: scripts("vrrp_sync_group "+g.Name, g.Notify), smtp: alert}
	}

	for _, fc := range []*config.NotifyFIFO{cfg.Global.NotifyFIFO, cfg.Global.VRRPNotifyFIFO} {
		if fc == nil || fc.Path == "" {
			continue
		}
		fo, err := OpenFIFO(fc, policy, n.log)
		if err != nil {
			n.closeFIFOs()
			return nil, err
		}
		n.fifos = append(n.fifos, fo)
	}

	if n.mailer != nil {
		n.mails = make(chan Event, opts.QueueLen)
		n.wg.Add(1)
		go n.mailLoop()
	}
	return n, nil
}

// SetScripts replaces the scripts of one instance or group (tests, and a
// daemon that prepares scripts itself). It must be called before the
// first Notify for that name.
func (n *Notifier) SetScripts(kind, name string, s Scripts, smtpAlert bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.targets[key(kind, name)] = &target{scripts: s, smtp: smtpAlert}
}

// Problems lists the scripts disabled at New, with the reason.
func (n *Notifier) Problems() []error { return n.problems }

// Counters returns a copy of the statistics.
func (n *Notifier) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.counters
	for _, f := range n.fifos {
		c.FIFODropped += f.Dropped()
	}
	return c
}

// Notify delivers ev: it writes the FIFO line at once and queues the
// scripts and the mail. It never blocks; an invalid event, or one for a
// full queue, is logged and dropped.
func (n *Notifier) Notify(ev Event) {
	if err := ev.Validate(); err != nil {
		n.log.Error("dropping notification", "err", err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	for _, f := range n.fifos {
		f.Write(ev.FIFOLine())
	}
	t := n.targets[key(ev.Kind, ev.Name)]
	if t == nil {
		t = &target{}
		n.targets[key(ev.Kind, ev.Name)] = t
	}
	for _, j := range jobsFor(t.scripts, ev) {
		if t.queue == nil {
			t.queue = make(chan job, n.opts.QueueLen)
			n.wg.Add(1)
			go n.worker(ev.Kind, ev.Name, t.queue)
		}
		select {
		case t.queue <- j:
		default:
			n.counters.Dropped++
			n.log.Warn("notify queue full; script not run", "kind", ev.Kind, "name", ev.Name, "script", j.what, "state", ev.State, "dropped", n.counters.Dropped)
		}
	}
	if n.mails != nil && t.smtp && ev.transition() && ev.State != StateDeleted &&
		!(n.noFault && ev.State == StateFault) && t.lastMail != ev.State {
		t.lastMail = ev.State
		select {
		case n.mails <- ev:
		default:
			n.counters.Dropped++
			n.log.Warn("mail queue full; alert not sent", "kind", ev.Kind, "name", ev.Name, "state", ev.State)
		}
	}
}

// jobsFor lists the script runs for ev, in keepalived's order: the state's
// own script, then the generic one with its four arguments.
func jobsFor(s Scripts, ev Event) []job {
	var own Runner
	var what string
	switch ev.State {
	case StateMaster:
		own, what = s.Master, "notify_master"
	case StateBackup:
		own, what = s.Backup, "notify_backup"
	case StateFault:
		own, what = s.Fault, "notify_fault"
	case StateStop:
		own, what = s.Stop, "notify_stop"
	case StateDeleted:
		own, what = s.Deleted, "notify_deleted"
	case StateMasterRxLowerPri:
		own, what = s.MasterRxLowerPri, "notify_master_rx_lower_pri"
	}
	var jobs []job
	if own != nil {
		jobs = append(jobs, job{run: own, what: what})
	}
	if s.Any != nil && ev.transition() {
		jobs = append(jobs, job{run: s.Any, extra: ev.NotifyArgs(), what: "notify"})
	}
	return jobs
}

// worker runs one instance's scripts in order.
func (n *Notifier) worker(kind, name string, q <-chan job) {
	defer n.wg.Done()
	for j := range q {
		if n.ctx.Err() != nil {
			continue // closing: drain without running
		}
		res := j.run.Run(n.ctx, n.opts.ScriptTimeout, j.extra...)
		if !res.OK() {
			n.mu.Lock()
			n.counters.ScriptFailures++
			n.mu.Unlock()
			n.log.Warn("notify script failed", "kind", kind, "name", name, "script", j.what, "result", res.String())
		}
	}
}

func (n *Notifier) mailLoop() {
	defer n.wg.Done()
	for ev := range n.mails {
		if n.ctx.Err() != nil {
			continue
		}
		err := n.mailer.Send(ev)
		n.mu.Lock()
		if err != nil {
			n.counters.MailErrors++
		} else {
			n.counters.MailsSent++
		}
		n.mu.Unlock()
		if err != nil {
			n.log.Warn("SMTP alert not sent", "kind", ev.Kind, "name", ev.Name, "state", ev.State, "err", err)
		} else {
			n.log.Info("SMTP alert sent", "kind", ev.Kind, "name", ev.Name, "state", ev.State)
		}
	}
}

// Close stops accepting events, lets queued scripts and mails finish until
// ctx ends, then kills what is still running and closes the FIFOs. It
// returns ctx's error if it had to cut work short.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, t := range n.targets {
		if t.queue != nil {
			close(t.queue)
		}
	}
	if n.mails != nil {
		close(n.mails)
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		n.cancel() // kills running scripts; queued ones are skipped
		<-done
	}
	n.cancel()
	n.closeFIFOs()
	if err != nil {
		return errors.Join(errors.New("notify: shutdown cut short"), err)
	}
	return nil
}

func (n *Notifier) closeFIFOs() {
	n.mu.Lock()
	fifos := n.fifos
	n.fifos = nil
	n.mu.Unlock()
	for _, f := range fifos {
		f.Close()
	}
}
