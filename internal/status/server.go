package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultSocket is where the daemon listens and the CLI connects unless told
// otherwise.
const DefaultSocket = "/run/vigil/vigil.sock"

// ListenControl opens the control socket at path. The directory is created
// with mode 0700 if it does not exist (an existing one is left as it is:
// the path may be a shared directory); the socket gets mode 0600, so that
// only root talks to the daemon. A socket file left by a daemon that died
// is removed; a live daemon answering on it, or a path that is not a
// socket, is refused and nothing is changed.
func ListenControl(path string) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket; not touching it", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another daemon is listening on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control socket %s: cannot tell whether it is in use: %w", path, err)
		}
		// Nobody accepts on it: a crashed run left it behind.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Serve serves handler on ln until ctx is done, then stops: requests still
// running (event streams) see their context end, and Serve returns once they
// have, or after a few seconds. It closes ln (and so removes a unix socket
// file). It returns nil after a shutdown through ctx.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		// Requests inherit ctx, so a stream ends when the daemon stops.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// Handler returns the control API:
//
//	GET  /status  the instances as StatusJSON
//	GET  /events  one Event per line (JSON) until the client leaves
//	POST /reload  runs the reload hook; 200 with ReloadJSON, or 409 with ErrorJSON
func (h *Hub) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.Status())
	})
	mux.HandleFunc("GET /events", h.serveEvents)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		log.Info("reload requested on the control socket")
		res, err := h.Reload(r.Context())
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, res.normalized())
		case errors.Is(err, ErrNoReload):
			writeJSON(w, http.StatusServiceUnavailable, errorJSON(err))
		default:
			log.Warn("reload refused", "err", err)
			writeJSON(w, http.StatusConflict, errorJSON(err))
		}
	})
	return mux
}

// ErrorJSON is the body of a refused request; Errors lists each reason (one
// per configuration error, say).
type ErrorJSON struct {
	Error  string   `json:"error,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

func errorJSON(err error) ErrorJSON {
	out := ErrorJSON{Error: err.Error()}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	if len(list) == 0 {
		list = []error{err}
	}
	for _, e := range list {
		for _, line := range strings.Split(e.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out.Errors = append(out.Errors, line)
			}
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client left: nothing to tell it
}

// lostLine is the last line of a stream whose reader fell behind, so that
// it does not end as if nothing had been missed.
type lostLine struct {
	Error string `json:"error"`
}

func (h *Hub) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub := h.Subscribe()
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // the client knows it is subscribed before any event
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.Events():
			if !ok {
				if sub.Lost() {
					_ = enc.Encode(lostLine{Error: "events lost: the reader did not keep up"})
					flusher.Flush()
				}
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
