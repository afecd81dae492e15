// Package ipvs is the kernel IPVS data plane: dataplane.Plane over IPVS's
// generic netlink interface, in pure Go (no cgo, no libipvs).
//
// codec.go is the pure layer (Go values <-> netlink attributes, golden- and
// fuzz-tested); this file sends the messages through a Conn, which is a
// *genetlink.Conn in production and a fake in tests.
package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// Conn is the part of *genetlink.Conn the plane uses.
type Conn interface {
	Execute(m genetlink.Message, family uint16, flags netlink.HeaderFlags) ([]genetlink.Message, error)
	// SetDeadline bounds the next Execute: a kernel that never answers
	// must not hang the LVS loop.
	SetDeadline(t time.Time) error
	Close() error
}

// Timeout bounds each request whose context has no earlier deadline.
const Timeout = 10 * time.Second

// ErrNoIPVS is returned by Open on a kernel without IPVS.
var ErrNoIPVS = errors.New("the kernel has no IPVS (the generic netlink family IPVS does not exist and the ip_vs module could not be loaded); use --dataplane nftables or --dataplane proxy instead")

// Options configure Open.
type Options struct {
	// NetNS is a network namespace file descriptor to work in; 0 means the
	// caller's namespace.
	NetNS int
}

// Plane is the IPVS data plane. It is safe for concurrent use as far as
// the netlink connection is; callers (internal/lvs) use it from one
// goroutine.
type Plane struct {
	conn   Conn
	family uint16
	// pipe is the socket under conn for Pipeline, nil where there is
	// none (Pipeline then makes each change its Plane call).
	pipe   pipeConn
	pstate pipeState
}

// Open connects to the kernel's IPVS. Looking the family up makes the kernel
// load the ip_vs module if it can; a kernel without it gives ErrNoIPVS.
func Open(opts Options) (*Plane, error) {
	c, err := genetlink.Dial(&netlink.Config{NetNS: opts.NetNS})
	if err != nil {
		return nil, fmt.Errorf("open generic netlink: %w", err)
	}
	p, err := openOn(c)
	if err != nil {
		return nil, err
	}
	if pipe, err := newSockPipe(c); err == nil {
		p.pipe = pipe
	}
	return p, nil
}

// familyConn is a Conn that can also look up generic netlink families.
type familyConn interface {
	Conn
	GetFamily(name string) (genetlink.Family, error)
}

// openOn looks IPVS up on c; c is closed on failure.
func openOn(c familyConn) (*Plane, error) {
	f, err := c.GetFamily(familyName)
	if err != nil {
		c.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoIPVS
		}
		return nil, fmt.Errorf("look up the IPVS generic netlink family: %w", err)
	}
	return New(c, f.ID), nil
}

// New returns a plane that talks to the IPVS family id over c. A c that
// can also write and read whole buffers of messages (the tests' fake
// kernel) is the pipe of Pipeline too.
func New(c Conn, family uint16) *Plane {
	p := &Plane{conn: c, family: family}
	if pc, ok := c.(pipeConn); ok {
		p.pipe = pc
	}
	return p
}

// Close closes the netlink connection.
func (p *Plane) Close() error { return p.conn.Close() }

// Capabilities implements dataplane.Plane: IPVS expresses every attribute
// keepalived has. Schedulers are left to the kernel, which refuses a
// scheduler whose module it cannot load.
func (p *Plane) Capabilities() dataplane.Capabilities {
	return dataplane.Capabilities{
		Name:               "ipvs",
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
		Stats:              true,
	}
}

var cmdNames = map[uint8]string{
	cmdNewService: "add service", cmdSetService: "update service", cmdDelService: "delete service",
	cmdGetService: "list services", cmdNewDest: "add destination", cmdSetDest: "update destination",
	cmdDelDest: "delete destination", cmdGetDest: "list destinations", cmdNewDaemon: "start sync daemon",
	cmdDelDaemon: "stop sync daemon", cmdGetDaemon: "list sync daemons", cmdSetConfig: "set timeouts",
	cmdGetConfig: "get timeouts", cmdFlush: "flush",
}

// hints explain the errno IPVS gives for a command where the bare errno
// misleads.
var hints = map[uint8]map[syscall.Errno]string{
	cmdNewService: {syscall.ENOENT: "unknown scheduler or persistence engine", syscall.EEXIST: "the service exists"},
	cmdSetService: {syscall.ESRCH: "no such service", syscall.ENOENT: "unknown scheduler or persistence engine"},
	cmdDelService: {syscall.ESRCH: "no such service"},
	cmdNewDest:    {syscall.ESRCH: "no such service", syscall.EEXIST: "the destination exists"},
	cmdSetDest:    {syscall.ESRCH: "no such service", syscall.ENOENT: "no such destination"},
	cmdDelDest:    {syscall.ESRCH: "no such service", syscall.ENOENT: "no such destination"},
	cmdNewDaemon:  {syscall.EEXIST: "a sync daemon of that role runs already"},
	cmdDelDaemon:  {syscall.ESRCH: "no sync daemon of that role runs"},
}

// opError is a refused command, with the kernel's errno and a hint.
type opError struct {
	cmd  uint8
	what string
	err  error
}

func (e *opError) Error() string {
	s := fmt.Sprintf("ipvs %s %s: %v", cmdNames[e.cmd], e.what, e.err)
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		if h := hints[e.cmd][errno]; h != "" {
			s += " (" + h + ")"
		}
	}
	return s
}

func (e *opError) Unwrap() error { return e.err }

func (p *Plane) do(ctx context.Context, m genetlink.Message, build error, what string, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	if build != nil {
		return nil, fmt.Errorf("ipvs %s %s: %w", cmdNames[m.Header.Command], what, build)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := p.conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("ipvs %s %s: set deadline: %w", cmdNames[m.Header.Command], what, err)
	}
	msgs, err := p.conn.Execute(m, p.family, netlink.Request|flags)
	if err != nil {
		return nil, &opError{cmd: m.Header.Command, what: what, err: err}
	}
	return msgs, nil
}

// Services implements dataplane.Plane.
func (p *Plane) Services(ctx context.Context) ([]dataplane.Service, error) {
	m, err := message(cmdGetService, nil)
	msgs, err := p.do(ctx, m, err, "", netlink.Dump)
	if err != nil {
		return nil, err
	}
	out := make([]dataplane.Service, 0, len(msgs))
	for _, r := range msgs {
		s, err := decodeServiceReply(r.Data)
		if err != nil {
			return nil, fmt.Errorf("ipvs list services: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Destinations implements dataplane.Plane.
func (p *Plane) Destinations(ctx context.Context, svc dataplane.ServiceKey) ([]dataplane.Destination, error) {
	m, err := serviceKeyMessage(cmdGetDest, svc)
	msgs, err := p.do(ctx, m, err, svc.String(), netlink.Dump)
	if err != nil {
		return nil, err
	}
	out := make([]dataplane.Destination, 0, len(msgs))
	for _, r := range msgs {
		d, err := decodeDestReply(r.Data, svc.Family)
		if err != nil {
			return nil, fmt.Errorf("ipvs list destinations of %s: %w", svc, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// AddService implements dataplane.Plane.
func (p *Plane) AddService(ctx context.Context, s dataplane.Service) error {
	m, err := serviceMessage(cmdNewService, s)
	_, err = p.do(ctx, m, err, s.Key.String(), netlink.Acknowledge)
	return err
}

// UpdateService implements dataplane.Plane.
func (p *Plane) UpdateService(ctx context.Context, s dataplane.Service) error {
	m, err := serviceMessage(cmdSetService, s)
	_, err = p.do(ctx, m, err, s.Key.String(), netlink.Acknowledge)
	return err
}

// DeleteService implements dataplane.Plane.
func (p *Plane) DeleteService(ctx context.Context, key dataplane.ServiceKey) error {
	m, err := serviceKeyMessage(cmdDelService, key)
	_, err = p.do(ctx, m, err, key.String(), netlink.Acknowledge)
	return err
}

// AddDestination implements dataplane.Plane.
func (p *Plane) AddDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	m, err := destMessage(cmdNewDest, svc, d, true)
	_, err = p.do(ctx, m, err, d.Key.String()+" of "+svc.String(), netlink.Acknowledge)
	return err
}

// UpdateDestination implements dataplane.Plane.
func (p *Plane) UpdateDestination(ctx context.Context, svc dataplane.ServiceKey, d dataplane.Destination) error {
	m, err := destMessage(cmdSetDest, svc, d, true)
	_, err = p.do(ctx, m, err, d.Key.String()+" of "+svc.String(), netlink.Acknowledge)
	return err
}

// DeleteDestination implements dataplane.Plane.
func (p *Plane) DeleteDestination(ctx context.Context, svc dataplane.ServiceKey, key dataplane.DestKey) error {
	m, err := destMessage(cmdDelDest, svc, dataplane.Destination{Key: key}, false)
	_, err = p.do(ctx, m, err, key.String()+" of "+svc.String(), netlink.Acknowledge)
	return err
}

// Flush implements dataplane.Plane.
func (p *Plane) Flush(ctx context.Context) error {
	m, err := message(cmdFlush, nil)
	_, err = p.do(ctx, m, err, "", netlink.Acknowledge)
	return err
}

// SetTimeouts implements dataplane.Plane.
func (p *Plane) SetTimeouts(ctx context.Context, t dataplane.Timeouts) error {
	m, err := timeoutsMessage(t)
	_, err = p.do(ctx, m, err, "", netlink.Acknowledge)
	return err
}

// Timeouts implements dataplane.Plane.
func (p *Plane) Timeouts(ctx context.Context) (dataplane.Timeouts, error) {
	m, err := message(cmdGetConfig, nil)
	msgs, err := p.do(ctx, m, err, "", 0)
	if err != nil {
		return dataplane.Timeouts{}, err
	}
	if len(msgs) != 1 {
		return dataplane.Timeouts{}, fmt.Errorf("ipvs get timeouts: %d replies, want 1", len(msgs))
	}
	return decodeTimeouts(msgs[0].Data)
}

// StartSyncDaemon implements dataplane.Plane.
func (p *Plane) StartSyncDaemon(ctx context.Context, d dataplane.SyncDaemon) error {
	m, err := daemonMessage(d)
	_, err = p.do(ctx, m, err, d.Interface, netlink.Acknowledge)
	return err
}

// StopSyncDaemon implements dataplane.Plane.
func (p *Plane) StopSyncDaemon(ctx context.Context, state dataplane.SyncState) error {
	m, err := stopDaemonMessage(state)
	_, err = p.do(ctx, m, err, "", netlink.Acknowledge)
	return err
}

// SyncDaemons lists the running sync daemons (not part of dataplane.Plane:
// only status needs it).
func (p *Plane) SyncDaemons(ctx context.Context) ([]dataplane.SyncDaemon, error) {
	m, err := message(cmdGetDaemon, nil)
	msgs, err := p.do(ctx, m, err, "", netlink.Dump)
	if err != nil {
		return nil, err
	}
	var out []dataplane.SyncDaemon
	for _, r := range msgs {
		d, err := decodeDaemon(r.Data)
		if err != nil {
			return nil, fmt.Errorf("ipvs list sync daemons: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

var _ dataplane.Plane = (*Plane)(nil)
