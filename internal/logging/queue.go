package logging

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// consoleQueueLines is how many console lines wait for a slow reader
// before new ones are dropped.
const consoleQueueLines = 4096

// consoleFlushTimeout bounds how long closing the log waits for the queued
// console lines to be written.
const consoleFlushTimeout = 2 * time.Second

// Queue is an io.Writer that never blocks its callers: each write is
// queued and a goroutine of its own writes it out. The console is a pipe or
// terminal that someone else reads; a reader that stops reading (a full
// pipe) must not stall the code that logs, and the VRRP loop logs on every
// transition, including the ones that stop the daemon. When the queue is
// full a line is dropped, and the count of dropped lines is written before
// the next line that gets through.
type Queue struct {
	out     io.Writer
	mu      sync.Mutex // guards closed and the send on lines
	closed  bool
	lines   chan []byte
	done    chan struct{}
	dropped atomic.Uint64
}

// NewQueue starts a queue of up to size writes in front of out.
func NewQueue(out io.Writer, size int) *Queue {
	q := &Queue{out: out, lines: make(chan []byte, size), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *Queue) run() {
	defer close(q.done)
	for b := range q.lines {
		if n := q.dropped.Swap(0); n > 0 {
			fmt.Fprintf(q.out, "vigil: %d log line(s) dropped: the console is not being read\n", n)
		}
		q.out.Write(b)
	}
}

// Write queues a copy of p; it never blocks and never fails.
func (q *Queue) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.dropped.Add(1)
		return len(p), nil
	}
	select {
	case q.lines <- b:
	default:
		q.dropped.Add(1)
	}
	return len(p), nil
}

// ErrFlushTimeout is Close's error when the queued lines could not all be
// written before its wait ended.
var ErrFlushTimeout = errors.New("log: the console is not being read: queued lines left unwritten")

// Close stops taking lines and waits until the queued ones are written or
// wait fires, whichever comes first.
func (q *Queue) Close(wait <-chan time.Time) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.lines)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-wait:
		return ErrFlushTimeout
	}
}
