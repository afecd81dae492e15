package status

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeEventLine feeds arbitrary lines to the client's event decoder:
// it must never panic, and what it accepts must survive a round trip.
func FuzzDecodeEventLine(f *testing.F) {
	seeds := []string{
		`{"time":"2026-03-14T15:09:26.535897Z","instance":"VI_1","from":"BACKUP","to":"MASTER","reason":"master down","priority":150}`,
		`{"instance":"VI_2","from":"MASTER","to":"FAULT","priority":0}`,
		`{"error":"events lost: the reader did not keep up"}`,
		`{"instance":""}`,
		`{"instance":"x","priority":300}`,
		`{"instance":"x","time":"yesterday"}`,
		`[]`, `null`, `{`, ``, `{"instance":"VI_1","instance":"VI_2"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := decodeEventLine(line)
		if err != nil {
			return
		}
		if ev.Instance == "" {
			t.Fatalf("accepted an event without an instance: %q", line)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", ev, err)
		}
		back, err := decodeEventLine(b)
		if err != nil {
			t.Fatalf("own encoding %s refused: %v", b, err)
		}
		if !back.Time.Equal(ev.Time) {
			t.Fatalf("time changed in a round trip: %v -> %v", ev.Time, back.Time)
		}
		back.Time = ev.Time // same instant; the zone may be represented differently
		if back != ev {
			t.Fatalf("round trip changed %+v into %+v", ev, back)
		}
	})
}
