// Package fakeplane is an in-memory dataplane.Plane for tests of the
// packages that drive a plane: it keeps a table, refuses what a kernel
// refuses (adding what exists, removing what does not), counts every
// operation and can be told to fail chosen ones.
package fakeplane

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"syscall"

	"vigil/internal/dataplane"
)

// Op names an operation of the Plane interface.
type Op string

// Operations counted by the fake.
const (
	OpAddService    Op = "AddService"
	OpUpdateService Op = "UpdateService"
	OpDeleteService Op = "DeleteService"
	OpAddDest       Op = "AddDestination"
	OpUpdateDest    Op = "UpdateDestination"
	OpDeleteDest    Op = "DeleteDestination"
	OpFlush         Op = "Flush"
	OpSetTimeouts   Op = "SetTimeouts"
	OpStartSync     Op = "StartSyncDaemon"
	OpStopSync      Op = "StopSyncDaemon"
)

// Call is one recorded changing operation.
type Call struct {
	Op      Op
	Service dataplane.ServiceKey
	Dest    dataplane.DestKey
}

// String formats the call for test failure messages.
func (c Call) String() string {
	switch c.Op {
	case OpAddDest, OpUpdateDest, OpDeleteDest:
		return fmt.Sprintf("%s %s -> %s", c.Op, c.Service, c.Dest)
	case OpAddService, OpUpdateService, OpDeleteService:
		return fmt.Sprintf("%s %s", c.Op, c.Service)
	}
	return string(c.Op)
}

// Plane is the fake. The zero value is not usable; use New.
type Plane struct {
	mu       sync.Mutex
	caps     dataplane.Capabilities
	table    dataplane.Table
	timeouts dataplane.Timeouts
	syncd    map[dataplane.SyncState]dataplane.SyncDaemon
	calls    []Call
	// pipelines holds the size of each Pipeline call.
	pipelines []int
	// fail decides whether a call fails, and with what.
	fail func(Call) error
}

// AllCapabilities is what kernel IPVS can express; New uses it.
var AllCapabilities = dataplane.Capabilities{
	Name:               "fake",
	Methods:            []dataplane.Method{dataplane.NAT, dataplane.DR, dataplane.Tunnel},
	TunnelTypes:        []dataplane.TunnelType{dataplane.IPIP, dataplane.GUE, dataplane.GRE},
	TunnelOptions:      true,
	Protocols:          []dataplane.Protocol{dataplane.ProtoTCP, dataplane.ProtoUDP, dataplane.ProtoSCTP},
	Fwmark:             true,
	IPv6:               true,
	MixedFamily:        true,
	SchedFlags:         true,
	OnePacket:          true,
	Persistence:        true,
	PersistenceEngines: []string{"sip"},
	Thresholds:         true,
	Timeouts:           true,
	SyncDaemon:         true,
}

// New returns an empty fake with AllCapabilities.
func New() *Plane {
	return &Plane{
		caps:  AllCapabilities,
		table: dataplane.Table{},
		syncd: map[dataplane.SyncState]dataplane.SyncDaemon{},
	}
}

// SetCapabilities replaces what the fake says it can express.
func (p *Plane) SetCapabilities(c dataplane.Capabilities) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.caps = c
}

// FailWith makes every later call for which fn returns an error fail with
// it, without changing the table. Nil clears it.
func (p *Plane) FailWith(fn func(Call) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = fn
}

// Seed puts t into the table without counting operations: what a table
// holds before the code under test starts (another tool's services, a
// crashed run's leftovers).
func (p *Plane) Seed(t dataplane.Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range t.Clone() {
		if e.Dests == nil {
			e.Dests = map[dataplane.DestKey]dataplane.Destination{}
		}
		p.table[k] = e
	}
}

// Table returns a copy of the current table.
func (p *Plane) Table() dataplane.Table {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.table.Clone()
}

// Calls returns the changing operations made so far, in order.
func (p *Plane) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Count returns how many changing operations were made.
func (p *Plane) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// Reset forgets the recorded calls, keeping the table.
func (p *Plane) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls, p.pipelines = nil, nil
}

// SyncDaemons returns the running sync daemons by role.
func (p *Plane) SyncDaemons() map[dataplane.SyncState]dataplane.SyncDaemon {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.syncd)
}

// record counts c and returns the injected failure, if any. Called with mu held.
func (p *Plane) record(c Call) error {
	p.calls = append(p.calls, c)
	if p.fail != nil {
		return p.fail(c)
	}
	return nil
}

// Capabilities implements dataplane.Plane.
func (p *Plane) Capabilities() dataplane.Capabilities {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.caps
}

// Services implements dataplane.Plane.
func (p *Plane) Services(ctx context.Context) ([]dataplane.Service, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []dataplane.Service
	for _, k := range p.table.Keys() {
		out = append(out, p.table[k].Service)
	}
	return out, nil
}

// Destinations implements dataplane.Plane.
func (p *Plane) Destinations(ctx context.Context, svc dataplane.ServiceKey) ([]dataplane.Destination, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.table[svc]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", svc, syscall.ESRCH)
	}
	keys := slices.Collect(maps.Keys(e.Dests))
	slices.SortFunc(keys, dataplane.CompareDest)
	out := make([]dataplane.Destination, 0, len(keys))
	for _, k := range keys {
		out = append(out, e.Dests[k])
	}
	return out, nil
}

// AddService implements dataplane.Plane.
func (p *Plane) AddService(ctx context.Context, s dataplane.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpAddService, Service: s.Key}); err != nil {
		return err
	}
	if err := p.caps.CheckService(s); err != nil {
		return err
	}
	if _, ok := p.table[s.Key]; ok {
		return fmt.Errorf("add service %s: %w", s.Key, syscall.EEXIST)
	}
	p.table[s.Key] = dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
	return nil
}

// UpdateService implements dataplane.Plane.
func (p *Plane) UpdateService(ctx context.Context, s dataplane.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpUpdateService, Service: s.Key}); err != nil {
		return err
	}
	if err := p.caps.CheckService(s); err != nil {
		return err
	}
	e, ok := p.table[s.Key]
	if !ok {
		return fmt.Errorf("update service %s: %w", s.Key, syscall.ESRCH)
	}
	e.Service = s
	p.table[s.Key] = e
	return nil
}

// DeleteService implements dataplane.Plane.
func (p *Plane) DeleteService(ctx context.Context, key dataplane.ServiceKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpDeleteService, Service: key}); err != nil {
		return err
	}
	if _, ok := p.table[key]; !ok {
		return fmt.Errorf("delete service %s: %w", key, syscall.ESRCH)
	}
	delete(p.table, key)
	return nil
}

// AddDestination implements dataplane.Plane.
func (p *Plane) AddDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpAddDest, Service: svc, Dest: d.Key}); err != nil {
		return err
	}
	if err := p.caps.CheckDestination(svc, d); err != nil {
		return err
	}
	e, ok := p.table[svc]
	if !ok {
		return fmt.Errorf("add destination to %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := e.Dests[d.Key]; ok {
		return fmt.Errorf("add destination %s to %s: %w", d.Key, svc, syscall.EEXIST)
	}
	e.Dests[d.Key] = d
	return nil
}

// UpdateDestination implements dataplane.Plane.
func (p *Plane) UpdateDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpUpdateDest, Service: svc, Dest: d.Key}); err != nil {
		return err
	}
	if err := p.caps.CheckDestination(svc, d); err != nil {
		return err
	}
	e, ok := p.table[svc]
	if !ok {
		return fmt.Errorf("update destination of %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := e.Dests[d.Key]; !ok {
		return fmt.Errorf("update destination %s of %s: %w", d.Key, svc, syscall.ENOENT)
	}
	e.Dests[d.Key] = d
	return nil
}

// DeleteDestination implements dataplane.Plane.
func (p *Plane) DeleteDestination(ctx context.Context, svc dataplane.ServiceKey, key dataplane.DestKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpDeleteDest, Service: svc, Dest: key}); err != nil {
		return err
	}
	e, ok := p.table[svc]
	if !ok {
		return fmt.Errorf("delete destination of %s: %w", svc, syscall.ESRCH)
	}
	if _, ok := e.Dests[key]; !ok {
		return fmt.Errorf("delete destination %s of %s: %w", key, svc, syscall.ENOENT)
	}
	delete(e.Dests, key)
	return nil
}

// Flush implements dataplane.Plane.
func (p *Plane) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpFlush}); err != nil {
		return err
	}
	p.table = dataplane.Table{}
	return nil
}

// SetTimeouts implements dataplane.Plane.
func (p *Plane) SetTimeouts(ctx context.Context, t dataplane.Timeouts) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpSetTimeouts}); err != nil {
		return err
	}
	if t.TCP != 0 {
		p.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		p.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		p.timeouts.UDP = t.UDP
	}
	return nil
}

// Timeouts implements dataplane.Plane.
func (p *Plane) Timeouts(ctx context.Context) (dataplane.Timeouts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.timeouts, nil
}

// StartSyncDaemon implements dataplane.Plane.
func (p *Plane) StartSyncDaemon(ctx context.Context, d dataplane.SyncDaemon) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpStartSync}); err != nil {
		return err
	}
	if _, ok := p.syncd[d.State]; ok {
		return fmt.Errorf("start sync daemon: %w", syscall.EEXIST)
	}
	p.syncd[d.State] = d
	return nil
}

// StopSyncDaemon implements dataplane.Plane.
func (p *Plane) StopSyncDaemon(ctx context.Context, state dataplane.SyncState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.record(Call{Op: OpStopSync}); err != nil {
		return err
	}
	if _, ok := p.syncd[state]; !ok {
		return fmt.Errorf("stop sync daemon: %w", syscall.ESRCH)
	}
	delete(p.syncd, state)
	return nil
}

var _ dataplane.Plane = (*Plane)(nil)

// Pipeline implements dataplane.Pipeliner as kernel IPVS does: each change
// is its Plane call, counted and failed as one, in order; nothing stops at
// a refusal. Each call's number of changes is recorded (Pipelines). A
// test that wants a plane without it wraps the fake in a struct that
// embeds only dataplane.Plane.
func (p *Plane) Pipeline(ctx context.Context, n int, change func(i int) dataplane.Change, result func(i int, err error)) (int, error) {
	p.mu.Lock()
	p.pipelines = append(p.pipelines, n)
	p.mu.Unlock()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		c := change(i)
		k := c.Service.Key
		var err error
		switch c.Kind {
		case dataplane.ChangeAddService:
			err = p.AddService(ctx, c.Service)
		case dataplane.ChangeUpdateService:
			err = p.UpdateService(ctx, c.Service)
		case dataplane.ChangeDeleteService:
			err = p.DeleteService(ctx, k)
		case dataplane.ChangeAddDest:
			err = p.AddDestination(ctx, k, c.Dest)
		case dataplane.ChangeUpdateDest:
			err = p.UpdateDestination(ctx, k, c.Dest)
		case dataplane.ChangeDeleteDest:
			err = p.DeleteDestination(ctx, k, c.Dest.Key)
		default:
			err = fmt.Errorf("fakeplane: unknown change kind %d", c.Kind)
		}
		result(i, err)
	}
	return n, nil
}

// Pipelines returns the number of changes of each Pipeline call so far.
func (p *Plane) Pipelines() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pipelines)
}
