package lvsproc

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
)

// AddrEvent says that an address appeared on or left this host.
type AddrEvent struct {
	Addr netip.Addr
	Held bool
}

// WatchAddrs reports the host's addresses, those present first, then each
// change, for ha_suspend: as keepalived's checker process does, the LVS
// process watches the addresses itself rather than trusting VRRP's word.
// The channel closes when ctx is done or the subscription fails.
func WatchAddrs(ctx context.Context) (<-chan AddrEvent, error) {
	in := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	if err := netlink.AddrSubscribeWithOptions(in, done, netlink.AddrSubscribeOptions{ListExisting: true, ReceiveBufferSize: 1 << 20}); err != nil {
		close(done)
		return nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	out := make(chan AddrEvent, 16)
	go func() {
		defer close(out)
		closeDone := sync.OnceFunc(func() { close(done) })
		defer closeDone()
		stop := context.AfterFunc(ctx, closeDone)
		defer stop()
		for u := range in {
			a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok || ctx.Err() != nil {
				continue
			}
			select {
			case out <- AddrEvent{Addr: a.Unmap(), Held: u.NewAddr}:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}
