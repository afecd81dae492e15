package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// FilterTable is the name of the nftables table (family inet) Vigil owns
// for strict mode. Being ours by name, it is deleted and rebuilt at start,
// which also clears what a crashed run left.
const FilterTable = "vigil"

// filterPriority is the hook priority of the chains: just before the
// default filter priority (0), as keepalived's default nftables_priority.
const filterPriority = -1

// Filter keeps the drop rules of VRRP's non-accept mode (accept off, as
// vrrp_strict and strict_mode imply): a node that holds virtual addresses
// but is not their owner must not accept packets addressed to them, nor
// send packets from them (RFC 5798 section 6.4.3). As keepalived does, the
// addresses of every such instance are put in a set while the instance is
// MASTER (before the addresses are added) and taken out when it leaves that
// state (after they are removed); the rules drop input to and output from
// the set's addresses, except neighbour solicitations and advertisements,
// without which neighbours could not resolve or verify the addresses.
//
// The table is
//
//	table inet vigil {
//		set vips4 { type ipv4_addr; }
//		set vips6 { type ipv6_addr; }
//		chain in  { type filter hook input priority -1; policy accept;
//			icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
//			ip daddr @vips4 drop
//			ip6 daddr @vips6 drop }
//		chain out { type filter hook output priority -1; policy accept;
//			icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
//			ip saddr @vips4 drop
//			ip6 saddr @vips6 drop }
//	}
//
// A Filter works in the network namespace of the thread that made it. It is
// safe for use by several goroutines.
type Filter struct {
	mu      sync.Mutex
	conn    *nftables.Conn
	table   *nftables.Table
	set4    *nftables.Set
	set6    *nftables.Set
	blocked map[netip.Addr]bool
	log     *slog.Logger
	closed  bool
}

// NewFilter deletes any table named FilterTable left by an earlier run and
// creates the table, sets and chains, with nothing blocked.
func NewFilter(log *slog.Logger) (*Filter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A lasting connection is bound to the namespace it was opened in,
	// whatever thread later calls use.
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("host: filter: open nftables: %w", err)
	}
	f := &Filter{conn: conn, blocked: make(map[netip.Addr]bool), log: log.With("component", "filter")}
	if err := f.deleteTable("filter table from an earlier run removed"); err != nil {
		conn.CloseLasting()
		return nil, err
	}
	if err := f.build(); err != nil {
		_ = f.deleteTable("incomplete filter table removed")
		conn.CloseLasting()
		return nil, err
	}
	return f, nil
}

// deleteTable removes the table if it exists; why says for the log whose
// table it was.
func (f *Filter) deleteTable(why string) error {
	if _, err := f.conn.ListTableOfFamily(FilterTable, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("host: filter: look for table inet %s: %w", FilterTable, err)
	}
	f.conn.DelTable(&nftables.Table{Name: FilterTable, Family: nftables.TableFamilyINet})
	if err := f.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("host: filter: delete table inet %s: %w", FilterTable, err)
	}
	f.log.Info(why, "table", FilterTable)
	return nil
}

// build creates the table in one transaction.
func (f *Filter) build() error {
	c := f.conn
	f.table = c.AddTable(&nftables.Table{Name: FilterTable, Family: nftables.TableFamilyINet})
	f.set4 = &nftables.Set{Table: f.table, Name: "vips4", KeyType: nftables.TypeIPAddr}
	f.set6 = &nftables.Set{Table: f.table, Name: "vips6", KeyType: nftables.TypeIP6Addr}
	for _, s := range []*nftables.Set{f.set4, f.set6} {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("host: filter: set %s: %w", s.Name, err)
		}
	}
	accept := nftables.ChainPolicyAccept
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
		addr uint32 // offset of the address matched: destination in, source out
		off6 uint32
	}{
		{"in", nftables.ChainHookInput, 16, 24},
		{"out", nftables.ChainHookOutput, 12, 8},
	} {
		chain := c.AddChain(&nftables.Chain{
			Name: ch.name, Table: f.table, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityRef(filterPriority), Policy: &accept,
		})
		c.AddRule(&nftables.Rule{Table: f.table, Chain: chain, Exprs: ndAccept()})
		c.AddRule(&nftables.Rule{Table: f.table, Chain: chain, Exprs: dropIn(unix.NFPROTO_IPV4, ch.addr, 4, f.set4)})
		c.AddRule(&nftables.Rule{Table: f.table, Chain: chain, Exprs: dropIn(unix.NFPROTO_IPV6, ch.off6, 16, f.set6)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("host: filter: create table inet %s: %w", FilterTable, err)
	}
	f.log.Info("filter table created", "table", FilterTable)
	return nil
}

// ndAccept matches ICMPv6 neighbour solicitations (135) and advertisements
// (136) and accepts them.
func ndAccept() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{135}},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{136}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// dropIn drops packets of family proto whose address at offset (in the
// network header) is in set.
func dropIn(proto byte, offset, length uint32, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// checkFilterAddr rejects what cannot go in the sets.
func checkFilterAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("host: filter: invalid address")
	case a.Is4In6():
		return fmt.Errorf("host: filter: %s: IPv4-mapped IPv6 addresses are not allowed", a)
	case a.Zone() != "":
		return fmt.Errorf("host: filter: %s: addresses with a zone are not allowed", a)
	case a.Is6() && a.IsLinkLocalUnicast():
		// The same link-local address may be in use on another
		// interface; dropping it everywhere would cut that one off.
		return fmt.Errorf("host: filter: %s: link-local addresses cannot be filtered (they are per interface)", a)
	}
	return nil
}

// Block adds addrs to the drop sets. Addresses blocked already are left as
// they are; a bad address fails the whole call with nothing changed.
func (f *Filter) Block(addrs []netip.Addr) error {
	return f.update(addrs, true)
}

// Unblock takes addrs out of the drop sets; addresses not blocked are
// ignored.
func (f *Filter) Unblock(addrs []netip.Addr) error {
	return f.update(addrs, false)
}

func (f *Filter) update(addrs []netip.Addr, block bool) error {
	for _, a := range addrs {
		if err := checkFilterAddr(a); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("host: filter: closed")
	}
	var e4, e6 []nftables.SetElement
	var changed []netip.Addr
	for _, a := range addrs {
		if f.blocked[a] == block || slices.Contains(changed, a) {
			continue
		}
		changed = append(changed, a)
		el := nftables.SetElement{Key: a.AsSlice()}
		if a.Is4() {
			e4 = append(e4, el)
		} else {
			e6 = append(e6, el)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	for _, s := range []struct {
		set *nftables.Set
		els []nftables.SetElement
	}{{f.set4, e4}, {f.set6, e6}} {
		if len(s.els) == 0 {
			continue
		}
		var err error
		if block {
			err = f.conn.SetAddElements(s.set, s.els)
		} else {
			err = f.conn.SetDeleteElements(s.set, s.els)
		}
		if err != nil {
			return fmt.Errorf("host: filter: %w", err)
		}
	}
	// One transaction: all of it or none.
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("host: filter: update %v: %w", changed, err)
	}
	for _, a := range changed {
		if block {
			f.blocked[a] = true
		} else {
			delete(f.blocked, a)
		}
	}
	verb := "addresses blocked"
	if !block {
		verb = "addresses unblocked"
	}
	f.log.Info(verb, "addrs", changed)
	return nil
}

// Blocked returns the blocked addresses, sorted.
func (f *Filter) Blocked() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]netip.Addr, 0, len(f.blocked))
	for a := range f.blocked {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Close deletes the table and releases the connection. It is safe to call
// more than once.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.deleteTable("filter table removed")
	f.blocked = nil
	return errors.Join(err, f.conn.CloseLasting())
}
