package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// blockingWriter is a console whose reader has stopped: each write waits
// until the test lets it through.
type blockingWriter struct {
	started chan struct{} // one receive per write begun
	release chan struct{}
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.started <- struct{}{}:
	default: // nobody is counting any more
	}
	<-w.release
	return w.buf.Write(p)
}

// A console nobody reads never blocks the caller: lines past the queue are
// dropped and counted, and Close returns when its wait fires.
func TestQueueNeverBlocks(t *testing.T) {
	w := &blockingWriter{started: make(chan struct{}, 100), release: make(chan struct{})}
	q := NewQueue(w, 2)
	q.Write([]byte("one\n"))
	<-w.started // the writer holds "one", stuck
	for _, l := range []string{"two\n", "three\n", "four\n", "five\n"} {
		if n, err := q.Write([]byte(l)); n != len(l) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", l, n, err)
		}
	}
	wait := make(chan time.Time, 1)
	wait <- time.Time{}
	if err := q.Close(wait); !errors.Is(err, ErrFlushTimeout) {
		t.Fatalf("Close with a stuck console: %v, want ErrFlushTimeout", err)
	}
	close(w.release) // the reader comes back: what was queued is written
	<-q.done
	got := w.buf.String()
	want := "one\nvigil: 2 log line(s) dropped: the console is not being read\ntwo\nthree\n"
	if got != want {
		t.Errorf("console:\n%s\nwant:\n%s", got, want)
	}
}

// With a console that is read, every line is written in order by Close.
func TestQueueFlushesOnClose(t *testing.T) {
	var buf bytes.Buffer
	q := NewQueue(&buf, 16)
	var want strings.Builder
	for _, l := range []string{"a\n", "b\n", "c\n"} {
		q.Write([]byte(l))
		want.WriteString(l)
	}
	if err := q.Close(make(chan time.Time)); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want.String() {
		t.Errorf("console %q, want %q", buf.String(), want.String())
	}
	q.Write([]byte("late\n")) // after Close: dropped, no panic
}

// The daemon's console logger (-l) returns even when stderr is a pipe
// nobody reads: the stop path logs from the VRRP loop, and a log call
// stuck in write(2) kept SIGTERM from ever finishing the stop.
func TestSetupConsoleNeverBlocks(t *testing.T) {
	w := &blockingWriter{started: make(chan struct{}, 100), release: make(chan struct{})}
	log, _, closeLog, err := Setup(Config{Console: true, Stderr: w})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("first")
	<-w.started // the console is stuck on the first line
	for range 2 * consoleQueueLines {
		log.Info("stopping", "instance", "VI_1") // each returns
	}
	close(w.release)
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.buf.String(), "log line(s) dropped") {
		t.Errorf("no count of the dropped lines in %d bytes of console", w.buf.Len())
	}
}
