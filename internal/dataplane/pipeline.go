package dataplane

import "context"

// ChangeKind is one of the changing calls of Plane on services and
// destinations.
type ChangeKind uint8

// The kinds of Change, one per Plane call.
const (
	ChangeAddService ChangeKind = iota + 1
	ChangeUpdateService
	ChangeDeleteService
	ChangeAddDest
	ChangeUpdateDest
	ChangeDeleteDest
)

// Change is one changing call of Plane as a value: Service is the whole
// service for ChangeAddService and ChangeUpdateService, only its Key for
// the other kinds; Dest the whole destination for ChangeAddDest and
// ChangeUpdateDest, only its Key for ChangeDeleteDest.
type Change struct {
	Kind    ChangeKind
	Service Service
	Dest    Destination
}

// Pipeliner is a plane that can send many changes without waiting for each
// one's answer before sending the next (kernel IPVS: many netlink requests
// per system call). It is not a transaction: each change is applied, or
// refused, on its own, exactly as the Plane call of its kind would be, in
// the order given.
type Pipeliner interface {
	// Pipeline sends the n changes change(0) .. change(n-1) in order and
	// calls result(i, err) for each of them in order, err nil when the
	// change was applied, else the plane's refusal as the Plane call would
	// return it. change may be called more than once for an index. It
	// returns the number of changes whose result was given; when that is
	// less than n it returns why (the context ended, the connection
	// failed), and the outcome of the changes from that index on is
	// unknown: some may have been applied.
	Pipeline(ctx context.Context, n int, change func(i int) Change, result func(i int, err error)) (int, error)
}
