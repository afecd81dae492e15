// Command prober is the demo's client: it sends GET requests to a URL at a
// fixed interval and prints a line whenever the answering node changes or
// requests start or stop failing, then the longest interruption.
//
// Requests are sent on a ticker, not one after the other, so that a
// request hanging until its timeout during an outage does not blur the
// measurement: the resolution stays one interval. Every request uses a new
// connection, as a fresh client would, so each one follows the VIP.
//
// The run is bounded by -count requests and -max-duration; SIGINT or
// SIGTERM end it early. In every case it waits for the requests in flight
// (each bounded by -timeout) and prints the summary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "prober: %v\n", err)
		os.Exit(1)
	}
}

// options are the prober's settings.
type options struct {
	url         string
	interval    time.Duration
	timeout     time.Duration
	count       int
	maxDuration time.Duration
	t0          time.Time
	prefix      string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("prober", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "URL to GET (required)")
	fs.DurationVar(&o.interval, "interval", 20*time.Millisecond, "time between two requests")
	fs.DurationVar(&o.timeout, "timeout", 250*time.Millisecond, "timeout of one request")
	fs.IntVar(&o.count, "count", 4000, "send at most this many requests")
	fs.DurationVar(&o.maxDuration, "max-duration", 90*time.Second, "stop sending after this long")
	t0 := fs.String("t0", "", "zero of the printed timestamps, in seconds since the epoch (as bash's $EPOCHREALTIME); default: now")
	fs.StringVar(&o.prefix, "prefix", "[client]", "printed before every line")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.url == "":
		return o, errors.New("-url is required")
	case o.interval <= 0 || o.timeout <= 0 || o.maxDuration <= 0:
		return o, errors.New("-interval, -timeout and -max-duration must be positive")
	case o.count <= 0:
		return o, errors.New("-count must be positive")
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.t0 = time.Now()
	if *t0 != "" {
		sec, err := strconv.ParseFloat(*t0, 64)
		if err != nil || sec <= 0 {
			return o, fmt.Errorf("-t0 %q: want seconds since the epoch, like 1700000000.123456", *t0)
		}
		o.t0 = time.UnixMicro(int64(sec * 1e6))
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()

	client := &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil, // never a proxy from the environment: the point is to reach the VIP
		},
	}
	emit := func(lines []string) {
		for _, l := range lines {
			fmt.Fprintf(stdout, "%s %s\n", o.prefix, l)
		}
	}

	tr := newTracker(o.t0)
	ord := newReorder()
	// About timeout/interval requests are in flight during an outage; twice
	// that leaves room for scheduling delays on a loaded machine. The
	// results channel holds them all, so no request goroutine ever blocks.
	maxInflight := 2*int(o.timeout/o.interval) + 4
	results := make(chan result, maxInflight)
	inflight, seq := 0, 0
	handle := func(r result) {
		inflight--
		for _, p := range ord.add(r) {
			emit(tr.observe(p))
		}
	}

	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	for seq < o.count && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case r := <-results:
			handle(r)
		case now := <-ticker.C:
			if inflight >= maxInflight {
				continue // skip this tick rather than pile up requests
			}
			inflight++
			go func(seq int, sent time.Time) {
				results <- get(client, o.url, seq, sent)
			}(seq, now)
			seq++
		}
	}
	// Every request in flight ends within its timeout.
	for inflight > 0 {
		handle(<-results)
	}
	emit(tr.summary(time.Now()))
	return nil
}

// get sends one request and reports who answered.
func get(c *http.Client, url string, seq int, sent time.Time) result {
	r := result{seq: seq, sent: sent}
	resp, err := c.Get(url)
	if err != nil {
		r.err = shortError(err)
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	switch {
	case err != nil:
		r.err = shortError(err)
	case resp.StatusCode != http.StatusOK:
		r.err = "HTTP " + resp.Status
	default:
		r.node = strings.TrimSpace(string(body))
		if r.node == "" {
			r.err = "empty answer"
		}
	}
	return r
}

// shortError reduces a client error to what a reader of the demo needs:
// "timeout", "connection refused", "no route to host".
func shortError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}
