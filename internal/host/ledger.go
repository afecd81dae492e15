package host

import "slices"

// keyed is an entry the Manager tracks: it has a kernel identity and can
// check itself.
type keyed interface {
	key() string
	Validate() error
}

// ledger is the Manager's bookkeeping for one kind of entry (routes, rules,
// VMACs): what this run added, in order, and what an earlier run recorded
// and has not been dealt with yet.
type ledger[T keyed] struct {
	owned map[string]T
	order []string
	stale []T
}

func newLedger[T keyed](stale []T) ledger[T] {
	return ledger[T]{owned: make(map[string]T), stale: stale}
}

// get returns the entry owned under k.
func (l *ledger[T]) get(k string) (T, bool) {
	v, ok := l.owned[k]
	return v, ok
}

// own records v as ours (replacing an entry with the same key in place).
func (l *ledger[T]) own(v T) {
	k := v.key()
	if _, ok := l.owned[k]; !ok {
		l.order = append(l.order, k)
	}
	l.owned[k] = v
}

// forget drops the entry owned under k.
func (l *ledger[T]) forget(k string) {
	delete(l.owned, k)
	l.order = slices.DeleteFunc(l.order, func(s string) bool { return s == k })
}

// takeStale removes and reports an earlier run's entry with key k.
func (l *ledger[T]) takeStale(k string) bool {
	i := slices.IndexFunc(l.stale, func(s T) bool { return s.key() == k })
	if i < 0 {
		return false
	}
	l.stale = slices.Delete(l.stale, i, i+1)
	return true
}

// list returns the owned entries, oldest first.
func (l *ledger[T]) list() []T {
	out := make([]T, 0, len(l.order))
	for _, k := range l.order {
		out = append(out, l.owned[k])
	}
	return out
}

// all is what goes to the state file: ours, then the earlier run's.
func (l *ledger[T]) all() []T {
	return append(l.list(), l.stale...)
}
