package lvsproc

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"

	"vigil/internal/status"
)

// message is one line on the pipe from the LVS child to its parent: the
// child's whole status, or one event. The parent never shares memory with
// the child: this is all it knows of it.
type message struct {
	Status *status.LVSJSON `json:"status,omitempty"`
	Event  *status.Event   `json:"event,omitempty"`
}

// Reporter writes the child's messages to the parent.
type Reporter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewReporter writes to w (the pipe the parent passed as fd 3).
func NewReporter(w io.Writer) *Reporter { return &Reporter{enc: json.NewEncoder(w)} }

// Publish sends the status. A write error (the parent is gone) is
// ignored: the child keeps the plane as it is until it is stopped.
func (r *Reporter) Publish(s status.LVSJSON) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(message{Status: &s})
}

// Emit sends one event.
func (r *Reporter) Emit(ev status.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(message{Event: &ev})
}

// maxLine bounds one message (a status of thousands of virtual servers).
const maxLine = 64 << 20

// readMessages calls fn for each message until r ends.
func readMessages(r io.Reader, fn func(message)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		fn(m)
	}
	return sc.Err()
}
