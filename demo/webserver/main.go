// Command webserver is the demo's stand-in for a real service behind the
// VIP: it answers every HTTP request with the name of the node it runs on,
// so the client can see which node holds the VIP.
//
// It stops by itself after -max-duration, so that a demo that was killed
// too hard to clean up never leaves it running for long.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "webserver: %v\n", err)
		os.Exit(1)
	}
}

// run parses the flags and serves until a signal or -max-duration.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("webserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "node name to answer with (required)")
	addr := fs.String("addr", ":80", "address to listen on")
	maxDur := fs.Duration("max-duration", 5*time.Minute, "stop by itself after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("-name is required")
	}
	if *maxDur <= 0 {
		return errors.New("-max-duration must be positive")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("node", *name)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *maxDur)
	defer cancel()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler(*name),
		ReadHeaderTimeout: 2 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer shutCancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// handler answers every request with the node name on one line. It closes
// the connection after each answer so that every request of the prober
// goes through ARP and the VIP afresh, as a new client would.
func handler(name string) http.Handler {
	body := []byte(name + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.Write(body)
	})
}
