package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

// FIFO is an open notify FIFO with its optional reader script.
type FIFO struct {
	path    string
	fd      int // raw, non-blocking; an *os.File's Fd() would make it blocking
	created bool
	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	dropped uint64
}

// OpenFIFO opens (creating it if missing, as keepalived does) the FIFO of a
// notify_fifo or vrrp_notify_fifo setting and starts its reader script with
// the FIFO's path as last argument. The FIFO is opened read-write and
// non-blocking, so opening never waits for a reader and a write to a full
// FIFO fails (and is counted) instead of blocking. A path that exists but
// is not a FIFO we own is refused.
func OpenFIFO(c *config.NotifyFIFO, p script.Policy, log *slog.Logger) (*FIFO, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fo := &FIFO{path: c.Path, fd: -1, log: log.With("fifo", c.Path)}
	var uid, gid = -1, -1
	if c.User != "" {
		id, err := script.LookupIdentity(c.User, c.Group)
		if err != nil {
			return nil, fmt.Errorf("notify fifo %s: %w", c.Path, err)
		}
		uid, gid = int(id.UID), int(id.GID)
	}
	err := unix.Mkfifo(c.Path, 0o644)
	switch {
	case err == nil:
		fo.created = true
		if uid >= 0 {
			if err := os.Chown(c.Path, uid, gid); err != nil {
				fo.log.Warn("cannot set the FIFO's owner", "err", err)
			}
		}
	case errors.Is(err, fs.ErrExist):
	default:
		return nil, fmt.Errorf("notify fifo %s: cannot create: %w", c.Path, err)
	}
	fd, err := unix.Open(c.Path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		fo.unlink()
		return nil, fmt.Errorf("notify fifo %s: cannot open: %w", c.Path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO ||
		(st.Uid != uint32(os.Getuid()) && (uid < 0 || st.Uid != uint32(uid))) {
		unix.Close(fd)
		fo.unlink()
		return nil, fmt.Errorf("notify fifo %s: not a FIFO we own", c.Path)
	}
	fo.fd = fd

	if c.Script != nil {
		s, err := script.Prepare(*c.Script, p)
		if err != nil {
			fo.Close()
			return nil, fmt.Errorf("notify fifo %s: script: %w", c.Path, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		fo.cancel = cancel
		fo.wg.Add(1)
		go func() {
			defer fo.wg.Done()
			res := s.Run(ctx, 0, c.Path)
			if ctx.Err() == nil {
				fo.log.Warn("notify FIFO script ended", "result", res.String())
			}
		}()
	}
	return fo, nil
}

// Write writes one line; it never blocks. A line that does not fit (no
// reader is draining the FIFO) is dropped and counted.
func (fo *FIFO) Write(line string) {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.fd < 0 {
		return
	}
	// Lines are far below PIPE_BUF, so each write is atomic: all or nothing.
	if _, err := unix.Write(fo.fd, []byte(line)); err != nil {
		fo.dropped++
		if fo.dropped == 1 || fo.dropped%100 == 0 {
			fo.log.Warn("notify FIFO full or broken; line dropped", "dropped", fo.dropped, "err", err)
		}
	}
}

// Dropped is the number of lines that could not be written.
func (fo *FIFO) Dropped() uint64 {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	return fo.dropped
}

// Close stops the reader script, closes the FIFO and removes it if we
// created it (first, so that a script that reopens it in a loop cannot).
func (fo *FIFO) Close() {
	fo.unlink()
	fo.mu.Lock()
	if fo.fd >= 0 {
		unix.Close(fo.fd)
		fo.fd = -1
	}
	fo.mu.Unlock()
	if fo.cancel != nil {
		fo.cancel()
	}
	fo.wg.Wait()
}

func (fo *FIFO) unlink() {
	if fo.created {
		os.Remove(fo.path)
		fo.created = false
	}
}
