// Package check runs the health checkers of real servers: TCP_CHECK,
// HTTP_GET, SSL_GET, SMTP_CHECK, MISC_CHECK, DNS_CHECK, UDP_CHECK,
// PING_CHECK and FILE_CHECK, with keepalived 2.2.7's retry, delay and
// warmup rules.
//
// The parts, from the inside out:
//   - Machine (machine.go) is the pure state machine of one checker: time
//     and check outcomes in, timers, checks to run and state reports out.
//   - Server (server.go) turns the reports of a real server's checkers into
//     its health (up when all pass, weight with dynamic weights) and the
//     notify_up / notify_down actions.
//   - Prober (prober.go and one file per kind) performs one check, with the
//     network behind a Dialer that tests replace.
//   - Runner (runner.go) owns the machines of a whole configuration, their
//     timers and the running checks; a check that overruns its deadline is
//     given up on without waiting for it, so a hung check never stalls the
//     others. Identical checks of one real server used by several virtual
//     servers run once and feed all of them.
//   - Build (build.go) is the one conversion from the configuration model.
package check
