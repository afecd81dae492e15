package daemon

import (
	"sync"

	"vigil/internal/status"
)

// lvsState is the last status the in-process LVS side (-C) published, read
// by the status server's goroutines.
type lvsState struct {
	mu sync.Mutex
	s  status.LVSJSON
}

func (l *lvsState) set(s status.LVSJSON) {
	l.mu.Lock()
	l.s = s
	l.mu.Unlock()
}

func (l *lvsState) get() *status.LVSJSON {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.s
	return &s
}
