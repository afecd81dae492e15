// Package notify tells the outside world about VRRP state changes, as
// keepalived does: notify_* scripts and the generic notify script, the
// notify FIFOs (with their reader scripts), and SMTP alerts.
//
// The daemon calls Notifier.Notify with an Event for every transition; the
// call never blocks. Scripts for one instance (or sync group) run one after
// the other in the order of the events, each on the instance's own bounded
// queue; FIFO lines are written at once, in event order across all
// instances; mails go through their own queue so that a slow mail server
// never delays a script.
package notify
