package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeKernel is an in-memory addrOps with the kernel's error behaviour.
type fakeKernel struct {
	devs  map[string][]netip.Prefix // device -> addresses
	calls []string
	fail  map[string]error // "add"/"del"/"list" -> forced error
}

func newFakeKernel(devs ...string) *fakeKernel {
	k := &fakeKernel{devs: make(map[string][]netip.Prefix), fail: make(map[string]error)}
	for _, d := range devs {
		k.devs[d] = nil
	}
	return k
}

func (k *fakeKernel) add(a Address) error {
	k.calls = append(k.calls, "add "+a.key())
	if err := k.fail["add"]; err != nil {
		return err
	}
	have, ok := k.devs[a.Dev]
	if !ok {
		return fmt.Errorf("interface %s: %w", a.Dev, unix.ENODEV)
	}
	p := netip.PrefixFrom(a.Prefix.Addr(), a.kernelBits())
	if slices.Contains(have, p) {
		return unix.EEXIST
	}
	k.devs[a.Dev] = append(have, p)
	return nil
}

func (k *fakeKernel) del(a Address) error {
	k.calls = append(k.calls, "del "+a.key())
	if err := k.fail["del"]; err != nil {
		return err
	}
	have, ok := k.devs[a.Dev]
	if !ok {
		return fmt.Errorf("interface %s: %w", a.Dev, unix.ENODEV)
	}
	p := netip.PrefixFrom(a.Prefix.Addr(), a.kernelBits())
	i := slices.Index(have, p)
	if i < 0 {
		return unix.EADDRNOTAVAIL
	}
	k.devs[a.Dev] = slices.Delete(have, i, i+1)
	return nil
}

func (k *fakeKernel) list(dev string) ([]netip.Prefix, error) {
	k.calls = append(k.calls, "list "+dev)
	if err := k.fail["list"]; err != nil {
		return nil, err
	}
	have, ok := k.devs[dev]
	if !ok {
		return nil, fmt.Errorf("interface %s: %w", dev, unix.ENODEV)
	}
	return slices.Clone(have), nil
}

func (k *fakeKernel) has(dev, prefix string) bool {
	return slices.Contains(k.devs[dev], netip.MustParsePrefix(prefix))
}

func vip(prefix, dev string) Address {
	return Address{Prefix: netip.MustParsePrefix(prefix), Dev: dev}
}

// stateKeys reads the state file and returns its entries' keys.
func stateKeys(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state file %q: %v", b, err)
	}
	if s.Version != stateVersion {
		t.Fatalf("state version %d", s.Version)
	}
	var keys []string
	for _, a := range s.Addresses {
		keys = append(keys, a.key())
	}
	return keys
}

func TestManagerAddRemove(t *testing.T) {
	state := filepath.Join(t.TempDir(), "run", "vigil", "addrs.json")
	k := newFakeKernel("eth0", "eth1")
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	a1, a2, a3 := vip("10.0.0.10/24", "eth0"), vip("fd00::10/64", "eth0"), vip("10.1.0.10/24", "eth1")
	for _, a := range []Address{a1, a2, a3} {
		if err := m.Add(a); err != nil {
			t.Fatalf("Add(%s): %v", a, err)
		}
	}
	if got, want := stateKeys(t, state), []string{a1.key(), a2.key(), a3.key()}; !slices.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
	// Adding again is a no-op that succeeds.
	if err := m.Add(a1); err != nil {
		t.Fatalf("second Add: %v", err)
	}
	if got := len(m.Owned()); got != 3 {
		t.Fatalf("owned %d addresses, want 3", got)
	}
	// Someone removes a1 behind our back; Add puts it back and it stays ours.
	k.devs["eth0"] = slices.DeleteFunc(k.devs["eth0"], func(p netip.Prefix) bool { return p == a1.Prefix })
	if err := m.Add(a1); err != nil || !k.has("eth0", "10.0.0.10/24") {
		t.Fatalf("re-Add: err %v, present %v", err, k.has("eth0", "10.0.0.10/24"))
	}
	if err := m.Remove(a2); err != nil {
		t.Fatal(err)
	}
	if k.has("eth0", "fd00::10/64") {
		t.Error("a2 still present after Remove")
	}
	if got, want := stateKeys(t, state), []string{a1.key(), a3.key()}; !slices.Equal(got, want) {
		t.Fatalf("state after Remove = %v, want %v", got, want)
	}
	// Removing twice, or an address never added, is fine and calls nothing.
	k.calls = nil
	if err := m.Remove(a2); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(vip("10.9.9.9/24", "eth0")); err != nil {
		t.Fatal(err)
	}
	if len(k.calls) != 0 {
		t.Errorf("kernel calls for addresses not ours: %v", k.calls)
	}
	// Already gone in the kernel: Remove succeeds and forgets it.
	k.devs["eth1"] = nil
	if err := m.Remove(a3); err != nil {
		t.Fatalf("Remove of vanished address: %v", err)
	}
	if got, want := stateKeys(t, state), []string{a1.key()}; !slices.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func TestManagerForeignAddressNotOwned(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0")
	k.devs["eth0"] = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")} // the admin's
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	a := vip("10.0.0.1/24", "eth0")
	if err := m.Add(a); err != nil {
		t.Fatalf("Add of a present address: %v", err)
	}
	if err := m.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if !k.has("eth0", "10.0.0.1/24") {
		t.Fatal("RemoveAll removed an address it did not add")
	}
}

func TestManagerRemoveAll(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0")
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.0.1/24", "10.0.0.2/24", "10.0.0.3/24"} {
		if err := m.Add(vip(p, "eth0")); err != nil {
			t.Fatal(err)
		}
	}
	k.calls = nil
	if err := m.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	want := []string{"del eth0|10.0.0.3/24", "del eth0|10.0.0.2/24", "del eth0|10.0.0.1/24"}
	if !slices.Equal(k.calls, want) {
		t.Errorf("calls = %v, want newest first %v", k.calls, want)
	}
	if len(k.devs["eth0"]) != 0 || len(m.Owned()) != 0 || len(stateKeys(t, state)) != 0 {
		t.Errorf("left: kernel %v, owned %v, state %v", k.devs["eth0"], m.Owned(), stateKeys(t, state))
	}
}

func TestManagerRemoveFailureKeepsRecord(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0")
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	a := vip("10.0.0.1/24", "eth0")
	if err := m.Add(a); err != nil {
		t.Fatal(err)
	}
	k.fail["del"] = unix.EPERM
	if err := m.RemoveAll(); !errors.Is(err, unix.EPERM) {
		t.Fatalf("RemoveAll = %v, want EPERM", err)
	}
	if got := stateKeys(t, state); !slices.Equal(got, []string{a.key()}) {
		t.Fatalf("state = %v, want the address kept for a later attempt", got)
	}
}

func TestManagerBadInputChangesNothing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0")
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	bad := []Address{
		{Dev: "eth0"},
		{Prefix: netip.MustParsePrefix("fd00::1/64"), Dev: "eth0", Label: "x"},
		{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Dev: "eth0", Scope: "bogus"},
	}
	for _, a := range bad {
		if err := m.Add(a); err == nil {
			t.Errorf("Add(%+v) succeeded", a)
		}
		if err := m.Remove(a); err == nil {
			t.Errorf("Remove(%+v) succeeded", a)
		}
	}
	if len(k.calls) != 0 {
		t.Errorf("kernel was called: %v", k.calls)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file written for bad input: %v", err)
	}
	// A kernel error on add is returned and records nothing.
	k.fail["add"] = unix.EPERM
	if err := m.Add(vip("10.0.0.1/24", "eth0")); !errors.Is(err, unix.EPERM) {
		t.Errorf("Add = %v, want EPERM", err)
	}
	if len(m.Owned()) != 0 {
		t.Errorf("owned after failed add: %v", m.Owned())
	}
	// Unknown device.
	delete(k.fail, "add")
	if err := m.Add(vip("10.0.0.1/24", "eth9")); !errors.Is(err, unix.ENODEV) {
		t.Errorf("Add on missing device = %v, want ENODEV", err)
	}
}

func TestManagerStateWriteFailureRollsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k := newFakeKernel("eth0")
	m, err := newManager(filepath.Join(dir, "s.json"), nil, k)
	if err != nil {
		t.Fatal(err)
	}
	// The state directory is replaced by a regular file: writes fail.
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(vip("10.0.0.1/24", "eth0")); err == nil {
		t.Fatal("Add succeeded without a state file")
	}
	if k.has("eth0", "10.0.0.1/24") || len(m.Owned()) != 0 {
		t.Fatalf("address left after rollback: kernel %v, owned %v", k.devs["eth0"], m.Owned())
	}
}

func TestManagerCleanupStale(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0", "eth1", "eth2")

	// The "crashed" run adds four addresses and never removes them.
	crashed, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	gone := vip("10.0.0.4/24", "eth0")
	kept := vip("10.0.0.5/24", "eth0")
	vanishedDev := vip("10.2.0.1/24", "eth2")
	all := []Address{vip("10.0.0.1/24", "eth0"), vip("fd00::1/64", "eth1"), gone, kept, vanishedDev}
	for _, a := range all {
		if err := crashed.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	// Since then: one address was removed by hand, one device vanished.
	if err := k.del(gone); err != nil {
		t.Fatal(err)
	}
	delete(k.devs, "eth2")

	next, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	// The new run adds "kept" before cleaning up: it is adopted as ours.
	if err := next.Add(kept); err != nil {
		t.Fatal(err)
	}
	if got := next.Owned(); len(got) != 1 || got[0] != kept {
		t.Fatalf("owned = %v, want the adopted %v", got, kept)
	}
	wantState := []string{kept.key(), all[0].key(), all[1].key(), gone.key(), vanishedDev.key()}
	if got := stateKeys(t, state); !slices.Equal(got, wantState) {
		t.Fatalf("state before cleanup = %v, want %v: the earlier run's entries must be carried over", got, wantState)
	}
	removed, err := next.CleanupStale()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range removed {
		keys = append(keys, a.key())
	}
	want := []string{"eth0|10.0.0.1/24", "eth1|fd00::1/64"}
	if !slices.Equal(keys, want) {
		t.Errorf("removed %v, want %v", keys, want)
	}
	if k.has("eth0", "10.0.0.1/24") || k.has("eth1", "fd00::1/64") {
		t.Error("stale addresses still present")
	}
	if !k.has("eth0", "10.0.0.5/24") {
		t.Error("address re-added by this run was removed")
	}
	if got := stateKeys(t, state); !slices.Equal(got, []string{kept.key()}) {
		t.Errorf("state after cleanup = %v, want only this run's %v", got, kept.key())
	}
	// A second cleanup has nothing to do.
	if removed, err := next.CleanupStale(); err != nil || len(removed) != 0 {
		t.Errorf("second CleanupStale = %v, %v", removed, err)
	}
}

func TestManagerCleanupStaleFailureKept(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeKernel("eth0")
	crashed, _ := newManager(state, nil, k)
	if err := crashed.Add(vip("10.0.0.1/24", "eth0")); err != nil {
		t.Fatal(err)
	}
	next, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	k.fail["del"] = unix.EBUSY
	if _, err := next.CleanupStale(); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("CleanupStale = %v, want EBUSY", err)
	}
	if got := stateKeys(t, state); !slices.Equal(got, []string{"eth0|10.0.0.1/24"}) {
		t.Fatalf("state = %v: a failed stale entry must stay for the next run", got)
	}
	delete(k.fail, "del")
	if removed, err := next.CleanupStale(); err != nil || len(removed) != 1 {
		t.Fatalf("retry: %v, %v", removed, err)
	}
}

func TestNewManagerBadState(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]string{
		"garbage":     "not json",
		"version":     `{"version": 99, "addresses": []}`,
		"bad address": `{"version": 1, "addresses": [{"prefix": "10.0.0.1/24"}]}`,
		"bad prefix":  `{"version": 1, "addresses": [{"prefix": "10.0.0.300/24", "dev": "eth0"}]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := newManager(path, nil, newFakeKernel()); err == nil {
				t.Fatal("newManager accepted a bad state file")
			}
			b, _ := os.ReadFile(path)
			if string(b) != content {
				t.Fatal("bad state file was modified")
			}
		})
	}
	if _, err := newManager("", nil, newFakeKernel()); err == nil {
		t.Error("empty state path accepted")
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	in := []Address{
		{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Dev: "eth0", Label: "eth0:1", Broadcast: netip.MustParseAddr("10.0.0.255"), Scope: "link"},
		{Prefix: netip.MustParsePrefix("fd00::1/128"), Dev: "eth0", NoDAD: true, PreferredLft: "forever", NoPrefixRoute: true},
		{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Peer: netip.MustParsePrefix("10.0.0.3/32"), Dev: "eth0"},
	}
	if err := writeState(path, stateFile{Addresses: in}); err != nil {
		t.Fatal(err)
	}
	out, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, out.Addresses) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out.Addresses, in)
	}
	// No temporary files are left next to the state file.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file", len(entries))
	}
}
