package track

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxFileRead is how much of a tracked file is read, as keepalived does.
const maxFileRead = 127

// ParseValue reads a tracked file's contents the way keepalived does (C
// strtol with base 0): leading white space, an optional sign, then a
// decimal, 0x hexadecimal or 0 octal number; anything after the number is
// ignored, and no number at all reads as 0. The result is limited to ±254.
func ParseValue(b []byte) int64 {
	if len(b) > maxFileRead {
		b = b[:maxFileRead]
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	base := int64(10)
	if i+1 < len(b) && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X') && i+2 < len(b) && hexDigit(b[i+2]) >= 0 {
		base, i = 16, i+2
	} else if i < len(b) && b[i] == '0' {
		base = 8
	}
	var v int64
	for ; i < len(b); i++ {
		d := hexDigit(b[i])
		if d < 0 || d >= base {
			break
		}
		if v < 1<<40 { // far beyond ±254: stop growing, the clamp decides
			v = v*base + d
		}
	}
	if neg {
		v = -v
	}
	return clamp64(v, -254, 254)
}

func hexDigit(c byte) int64 {
	switch {
	case c >= '0' && c <= '9':
		return int64(c - '0')
	case c >= 'a' && c <= 'f':
		return int64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int64(c-'A') + 10
	}
	return -1
}

// FileConfig is what a file tracker needs from a track_file block.
type FileConfig struct {
	Name string
	Path string
	// InitValue, when set, is written at start if the file does not exist
	// (or always, with Overwrite).
	InitValue *int64
	Overwrite bool
}

// FileTracker watches one track_file. It watches the file's directory with
// inotify, so a file that is replaced (written elsewhere and renamed over)
// or deleted and re-created is seen; where inotify is not available it
// polls. A missing file reads as 0.
type FileTracker struct {
	cfg  FileConfig
	dir  string
	base string
	log  *slog.Logger
	// PollInterval is used when inotify cannot be used.
	PollInterval time.Duration
}

// NewFileTracker checks cfg and applies init_file. The file's directory
// must exist (keepalived drops a track_file whose directory does not).
func NewFileTracker(cfg FileConfig, log *slog.Logger) (*FileTracker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("track_file %s: no file", cfg.Name)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("track_file %s: %w", cfg.Name, err)
	}
	dir := filepath.Dir(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("track_file %s: directory %s does not exist", cfg.Name, dir)
	}
	t := &FileTracker{cfg: cfg, dir: dir, base: filepath.Base(abs), log: log.With("track_file", cfg.Name, "file", abs), PollInterval: time.Second}
	if cfg.InitValue != nil {
		if err := t.initFile(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *FileTracker) path() string { return filepath.Join(t.dir, t.base) }

// initFile writes init_file's value when the file is missing, or always
// with overwrite.
func (t *FileTracker) initFile() error {
	if !t.cfg.Overwrite {
		if _, err := os.Lstat(t.path()); err == nil {
			return nil
		}
	}
	data := []byte(strconv.FormatInt(*t.cfg.InitValue, 10) + "\n")
	if err := os.WriteFile(t.path(), data, 0o644); err != nil {
		return fmt.Errorf("track_file %s: init_file: %w", t.cfg.Name, err)
	}
	return nil
}

// Read reads the file's current value (0 when missing or unreadable).
func (t *FileTracker) Read() int64 {
	f, err := os.OpenFile(t.path(), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			t.log.Warn("cannot read tracked file; using 0", "err", err)
		}
		return 0
	}
	defer f.Close()
	buf := make([]byte, maxFileRead)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.log.Warn("cannot read tracked file; using 0", "err", err)
		return 0
	}
	return ParseValue(buf[:n])
}

// Initial is the update with the file's value now.
func (t *FileTracker) Initial() Update {
	return Update{Kind: KindFile, Name: t.cfg.Name, Value: t.Read(), Reason: "initial read"}
}

// Run watches the file until ctx ends, sending an Update whenever the value
// changes from last (the value the caller already knows).
func (t *FileTracker) Run(ctx context.Context, last int64, out chan<- Update) {
	send := func(v int64, why string) bool {
		if v == last {
			return true
		}
		last = v
		t.log.Info("tracked file changed", "value", v)
		select {
		case out <- Update{Kind: KindFile, Name: t.cfg.Name, Value: v, Reason: why}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	w, err := newDirWatch(t.dir)
	if err != nil {
		t.log.Warn("inotify unavailable; polling the tracked file", "err", err, "interval", t.PollInterval)
		t.poll(ctx, send)
		return
	}
	defer w.Close()
	go func() { <-ctx.Done(); w.Close() }()
	// The file may have changed between the initial read and the watch.
	if !send(t.Read(), "changed") {
		return
	}
	for {
		names, err := w.Next()
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("inotify failed; polling the tracked file", "err", err)
				t.poll(ctx, send)
			}
			return
		}
		for _, n := range names {
			if n == t.base {
				if !send(t.Read(), "changed") {
					return
				}
				break
			}
		}
	}
}

func (t *FileTracker) poll(ctx context.Context, send func(int64, string) bool) {
	tick := time.NewTicker(t.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(t.Read(), "changed") {
				return
			}
		}
	}
}

// dirWatch is an inotify watch on one directory.
type dirWatch struct {
	f *os.File
}

func newDirWatch(dir string) (*dirWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// Writes that complete, renames in and out, and deletions: the events
	// keepalived reacts to, plus creation (an empty new file is 0).
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE|unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor goes into the runtime poller, so Close
	// unblocks a pending Read.
	return &dirWatch{f: os.NewFile(uintptr(fd), "inotify")}, nil
}

// Next blocks for the next batch of events and returns the names they
// concern.
func (w *dirWatch) Next() ([]string, error) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	n, err := w.f.Read(buf)
	if err != nil {
		return nil, err
	}
	return parseInotify(buf[:n]), nil
}

func (w *dirWatch) Close() error { return w.f.Close() }

// parseInotify decodes a buffer of inotify events into the file names they
// carry; a truncated trailing event is dropped.
func parseInotify(b []byte) []string {
	var names []string
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len (native endian),
		// then len bytes of NUL-padded name.
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := binary.NativeEndian.Uint32(b[12:16])
		if uint64(nameLen) > uint64(len(b)-unix.SizeofInotifyEvent) {
			break
		}
		end := unix.SizeofInotifyEvent + int(nameLen)
		if mask&unix.IN_ISDIR == 0 && nameLen > 0 {
			name := b[unix.SizeofInotifyEvent:end]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			names = append(names, string(name))
		}
		b = b[end:]
	}
	return names
}
