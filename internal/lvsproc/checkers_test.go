package lvsproc

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"vigil/internal/check"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/status"
)

// TestKeptChecksGiveTheSameStatus checks that the status built from the
// compact records the loop keeps is the one the Runner's checks gave when
// converted directly (the form kept before): every field, the zero times,
// a checker of several real servers, of none, and a real server the
// Engine does not know.
func TestKeptChecksGiveTheSameStatus(t *testing.T) {
	s := started(t, load(t, conf(false)), fakeplane.New(), nil, nil)
	other := netip.MustParseAddrPort("10.0.0.3:80")
	unknown := check.ServerKey{VS: "[10.9.9.9]:tcp:80", RS: netip.MustParseAddrPort("10.9.9.10:80")}
	at := time.Date(2026, 12, 2, 17, 30, 1, 123456789, time.Local)
	in := []check.CheckStatus{
		{Name: "TCP_CHECK a", Up: true, HasRun: true, LastOK: true, LastAt: at, Servers: []check.ServerKey{vsKey}, Start: 1, StartedAt: at.Add(-time.Minute)},
		{Name: "MISC_CHECK b", Weight: 7, HasWeight: true, LastError: "exit status 1", LastAt: at, HasRun: true,
			Servers: []check.ServerKey{vsKey, {VS: vsKey.VS, RS: other}, unknown}, Start: 1 << 40, StartedAt: at},
		{Name: "TCP_CHECK c", Servers: []check.ServerKey{unknown}, Start: 3, StartedAt: at},
		{Name: "FILE_CHECK d", Weight: -3, HasWeight: true, Up: true, Start: 4},
		{Name: "TCP_CHECK e", Servers: []check.ServerKey{}, Start: 5, StartedAt: at, LastAt: time.Unix(0, 1)},
	}
	// The direct conversion, as the loop kept it before.
	want := make([]status.LVSCheckerJSON, 0, len(in))
	for _, c := range in {
		j := status.LVSCheckerJSON{Name: c.Name, Up: c.Up, HasRun: c.HasRun, Weight: c.Weight, HasWeight: c.HasWeight,
			LastOK: c.LastOK, LastError: c.LastError, LastAt: c.LastAt, Start: c.Start, StartedAt: c.StartedAt,
			Reals: make([]status.LVSCheckerRealJSON, 0, len(c.Servers))}
		for _, k := range c.Servers {
			j.Reals = append(j.Reals, s.realName(k))
		}
		want = append(want, j)
	}
	got := s.Checkers(keepChecks(in))
	wj, _ := json.Marshal(status.LVSJSON{Checkers: want})
	gj, _ := json.Marshal(status.LVSJSON{Checkers: got})
	if string(gj) != string(wj) {
		t.Fatalf("status from the kept checks:\n%s\nwant (direct conversion):\n%s", gj, wj)
	}
	if got[1].Reals[2].VirtualServer != unknown.VS || got[0].Reals[0].Addr == "" {
		t.Fatalf("real servers' names %+v", got)
	}
	if s.Checkers(nil) != nil {
		t.Fatal("no checks read yet: want no checkers in the status")
	}
}

// TestKeptCheckSize guards the record the LVS loop keeps per check for as
// long as it runs (one per real server with a TCP_CHECK): 128 bytes, where
// the status's form it kept before took about 190 (136 bytes, a real
// server's name of 32 and its address's string).
func TestKeptCheckSize(t *testing.T) {
	if n := unsafe.Sizeof(keptCheck{}); n > 128 {
		t.Fatalf("keptCheck is %d bytes; want at most 128", n)
	}
}
