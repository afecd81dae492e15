package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"vigil/internal/dataplane"
)

// OpError is an operation the plane refused, with its reason.
type OpError struct {
	Op  Op
	Err error
}

// Error implements error.
func (e *OpError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }

// Unwrap returns the plane's error.
func (e *OpError) Unwrap() error { return e.Err }

// Reconciler brings a plane to a desired table. It keeps what it believes
// the plane holds (read once by Sync, then updated by each successful
// operation), so a health change costs the operations it needs and no
// listing, and the set of services it owns: those that matched a desired
// service key at some point and were not removed since.
//
// It is not safe for concurrent use: one goroutine (the LVS loop) owns it.
type Reconciler struct {
	plane  dataplane.Plane
	log    *slog.Logger
	actual belief
	owned  map[dataplane.ServiceKey]bool
	// synced is false until Sync has read the plane once, and again after
	// a failed operation leaves the belief in doubt.
	synced bool
	// refused holds services the plane refused to add, so they are not
	// retried on every health change; a reload that changes the service
	// retries it.
	refused map[dataplane.ServiceKey]dataplane.Service
}

// NewReconciler returns a Reconciler for p that owns nothing yet.
func NewReconciler(p dataplane.Plane, log *slog.Logger) *Reconciler {
	return &Reconciler{plane: p, log: log, owned: map[dataplane.ServiceKey]bool{},
		refused: map[dataplane.ServiceKey]dataplane.Service{}}
}

// Sync reads the plane's whole table into the Reconciler's belief. Apply
// calls it when needed; call it directly to re-read after someone else may
// have changed the table.
func (r *Reconciler) Sync(ctx context.Context) error {
	t, err := dataplane.Read(ctx, r.plane)
	if err != nil {
		return err
	}
	r.actual, r.synced = beliefOf(t), true
	return nil
}

// Owned reports whether the Reconciler owns the service key.
func (r *Reconciler) Owned(k dataplane.ServiceKey) bool { return r.owned[k] }

// Apply makes the plane hold desired for the services Vigil owns. Services
// of desired that already exist (left by a crashed run, or added by hand)
// are adopted as they are and changed only where they differ, so their
// connections survive. Owned services no longer desired are deleted; other
// services are never touched. A refused operation does not stop the others:
// the destinations of a refused service are skipped, every other service
// still comes up, and each refusal is returned as an *OpError (joined).
// It returns the number of operations sent.
func (r *Reconciler) Apply(ctx context.Context, desired dataplane.Table) (int, error) {
	return r.apply(ctx, desired, nil)
}

// ApplySome is Apply limited to the service keys in scope: desired holds
// what those services should be (a key of scope missing from desired is
// removed if owned), and no other service is looked at. It is what a
// health change costs: one virtual server's services, not the whole table.
func (r *Reconciler) ApplySome(ctx context.Context, desired dataplane.Table, scope []dataplane.ServiceKey) (int, error) {
	in := make(map[dataplane.ServiceKey]bool, len(scope))
	for _, k := range scope {
		in[k] = true
	}
	return r.apply(ctx, desired, in)
}

// apply is Apply (scope nil) and ApplySome.
func (r *Reconciler) apply(ctx context.Context, desired dataplane.Table, scope map[dataplane.ServiceKey]bool) (int, error) {
	if !r.synced {
		if err := r.Sync(ctx); err != nil {
			return 0, fmt.Errorf("read the data plane's table: %w", err)
		}
	}
	actual := r.view(scope)
	var errs []error
	caps := r.plane.Capabilities()
	want := make(dataplane.Table, len(desired))
	for _, k := range desired.Keys() {
		e := desired[k]
		if scope != nil && !scope[k] {
			continue
		}
		r.owned[k] = true
		refused, seen := r.refused[k]
		if !seen || refused != e.Service {
			delete(r.refused, k)
			if err := r.supported(caps, e); err != nil {
				errs = append(errs, &UnsupportedError{Key: k, Err: err})
				r.refused[k] = e.Service
				seen = true
			}
		}
		if seen {
			// Refused or unsupported as it is (reported when first
			// found): never half-apply it, and leave an adopted one as
			// it is rather than delete it.
			if have, ok := actual[k]; ok {
				want[k] = have
			}
			continue
		}
		want[k] = e
	}
	for k := range r.refused {
		if _, ok := desired[k]; !ok && (scope == nil || scope[k]) {
			delete(r.refused, k)
		}
	}
	ops := Diff(want, actual, r.owned)
	sent, runErrs := r.run(ctx, ops)
	if len(runErrs) > 0 && !r.synced && ctx.Err() == nil {
		// Someone else changed the table (a destination we update is
		// gone, one we add exists): read it again and retry once, as
		// keepalived falls back from edit to add.
		if err := r.Sync(ctx); err != nil {
			return sent, errors.Join(append(append(errs, runErrs...), err)...)
		}
		actual = r.view(scope)
		n, retryErrs := r.run(ctx, Diff(want, actual, r.owned))
		sent += n
		if len(retryErrs) == 0 {
			runErrs = nil // repaired
		} else {
			runErrs = retryErrs
		}
	}
	return sent, errors.Join(append(errs, runErrs...)...)
}

// view returns the believed table limited to scope (all of it for nil),
// in Diff's form: a copy that later operations do not change.
func (r *Reconciler) view(scope map[dataplane.ServiceKey]bool) dataplane.Table {
	return r.actual.table(scope)
}

// UnsupportedError is a desired service the plane cannot express; nothing
// of it was applied.
type UnsupportedError struct {
	Key dataplane.ServiceKey
	Err error
}

// Error implements error.
func (e *UnsupportedError) Error() string { return fmt.Sprintf("service %s: %v", e.Key, e.Err) }

// Unwrap returns the capability error (which wraps dataplane.ErrUnsupported).
func (e *UnsupportedError) Unwrap() error { return e.Err }

// supported checks a service and all its destinations: with the plane's
// own judgement when it has one (dataplane.Explainer), else against caps.
func (r *Reconciler) supported(caps dataplane.Capabilities, e dataplane.Entry) error {
	if x, ok := r.plane.(dataplane.Explainer); ok {
		return x.Explain(e)
	}
	return supported(caps, e)
}

// supported checks a service and all its destinations against caps.
func supported(caps dataplane.Capabilities, e dataplane.Entry) error {
	// Nearly every service passes: check it without sorting its
	// destinations or collecting anything (a start checks thousands),
	// and only a refusal is checked again in order, for a stable error.
	ok := caps.CheckService(e.Service) == nil
	for _, d := range e.Dests {
		if !ok {
			break
		}
		ok = caps.CheckDestination(e.Service.Key, d) == nil
	}
	if ok {
		return nil
	}
	errs := []error{caps.CheckService(e.Service)}
	for _, dk := range sortedDests(e.Dests) {
		errs = append(errs, caps.CheckDestination(e.Service.Key, e.Dests[dk]))
	}
	return errors.Join(errs...)
}

// RemoveOwned deletes every service Vigil owns (a clean stop) and forgets
// them. Services that cannot be deleted stay owned and are reported.
func (r *Reconciler) RemoveOwned(ctx context.Context) (int, error) {
	if !r.synced {
		if err := r.Sync(ctx); err != nil {
			return 0, fmt.Errorf("read the data plane's table: %w", err)
		}
	}
	ops := Diff(dataplane.Table{}, r.actual.services(), r.owned)
	sent, errs := r.run(ctx, ops)
	return sent, errors.Join(errs...)
}

// RemoveOwnedReals is RemoveOwned that first deletes each destination of
// the owned services, one by one, then the services: keepalived's default
// stop (lvs_flush_on_stop unset).
func (r *Reconciler) RemoveOwnedReals(ctx context.Context) (int, error) {
	if !r.synced {
		if err := r.Sync(ctx); err != nil {
			return 0, fmt.Errorf("read the data plane's table: %w", err)
		}
	}
	// Room for every owned destination and service at once: a stop of a
	// large table must not grow a slice of large Ops step by step.
	n := 0
	for k, svc := range r.actual {
		if r.owned[k] {
			n += 1 + len(svc.dests)
		}
	}
	ops := make([]Op, 0, n)
	for _, k := range r.actual.keys() {
		if !r.owned[k] {
			continue
		}
		for _, d := range r.actual[k].dests {
			ops = append(ops, Op{Kind: DeleteDest, Service: dataplane.Service{Key: k}, Dest: dataplane.Destination{Key: d.Key}})
		}
	}
	ops = append(ops, Diff(dataplane.Table{}, r.actual.services(), r.owned)...)
	sent, errs := r.run(ctx, ops)
	return sent, errors.Join(errs...)
}

// batcher is a plane that can apply the changes of many services in one
// transaction (the nftables plane, where every call is a transaction that
// rebuilds a service's rules and the kernel validates the whole table):
// changes holds each changed service's whole new entry, nil to delete it.
// It applies all of them or none.
type batcher interface {
	ApplyBatch(ctx context.Context, changes map[dataplane.ServiceKey]*dataplane.Entry) error
}

// run sends ops in order and keeps the belief and the owned set in step.
// A plane that batches gets them in one transaction (runBatch).
func (r *Reconciler) run(ctx context.Context, ops []Op) (int, []error) {
	if b, ok := r.plane.(batcher); ok && len(ops) > 0 {
		return r.runBatch(ctx, b, ops)
	}
	if pl, ok := r.plane.(dataplane.Pipeliner); ok && len(ops) > 0 {
		return r.runPipelined(ctx, pl, ops)
	}
	var errs []error
	failed := map[dataplane.ServiceKey]bool{}
	sent := 0
	for _, op := range ops {
		k := op.Service.Key
		if failed[k] && op.Kind != DeleteService {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		sent++
		err := r.do(ctx, op)
		if err != nil {
			errs = append(errs, &OpError{Op: op, Err: err})
			if op.Kind == AddService {
				// The plane holds nothing for k, as believed.
				failed[k] = true
				r.refused[k] = op.Service
			} else {
				// The plane may hold something else than believed; read
				// it again before the next Apply.
				r.synced = false
			}
			r.log.Warn("data plane refused an operation", "op", op.String(), "err", err)
			continue
		}
		r.note(op)
	}
	return sent, errs
}

// do sends one operation.
func (r *Reconciler) do(ctx context.Context, op Op) error {
	p, k := r.plane, op.Service.Key
	switch op.Kind {
	case AddService:
		return p.AddService(ctx, op.Service)
	case UpdateService:
		return p.UpdateService(ctx, op.Service)
	case DeleteService:
		return p.DeleteService(ctx, k)
	case AddDest:
		return p.AddDestination(ctx, k, op.Dest)
	case UpdateDest:
		return p.UpdateDestination(ctx, k, op.Dest)
	case DeleteDest:
		return p.DeleteDestination(ctx, k, op.Dest.Key)
	}
	return fmt.Errorf("unknown operation %d", op.Kind)
}

// note records a successful op in the belief.
func (r *Reconciler) note(op Op) {
	k := op.Service.Key
	switch op.Kind {
	case AddService:
		r.actual[k] = &believed{service: op.Service}
	case UpdateService:
		if s, ok := r.actual[k]; ok {
			s.service = op.Service
		} else {
			r.actual[k] = &believed{service: op.Service}
		}
	case DeleteService:
		delete(r.actual, k)
		delete(r.owned, k)
	case AddDest, UpdateDest:
		r.actual[k].set(op.Dest)
	case DeleteDest:
		r.actual[k].remove(op.Dest.Key)
	}
}

// runPipelined is run for a plane that pipelines (kernel IPVS): the same
// operations with the same outcome, sent without waiting for each answer.
// Only one thing makes an operation depend on an earlier one's answer: a
// refused AddService skips the rest of its service's operations (the
// plane holds nothing for it). So the operations go in waves: a wave takes
// every operation in order, except those of a service whose AddService is
// already in the wave, which wait for the next one (in their order); the
// next wave drops the operations of services whose add was refused. A
// start is two waves (the services, then their destinations), a health
// change or a reload one or two. Services are independent of one another,
// and within a service the order is kept.
func (r *Reconciler) runPipelined(ctx context.Context, pl dataplane.Pipeliner, ops []Op) (int, []error) {
	var (
		errs   []error
		sent   int
		failed map[dataplane.ServiceKey]bool
	)
	pending := make([]int32, len(ops))
	for i := range pending {
		pending[i] = int32(i)
	}
	wave := make([]int32, 0, len(ops))
	var next []int32
	for len(pending) > 0 {
		wave, next = wave[:0], next[:0]
		var adding map[dataplane.ServiceKey]bool
		for _, i := range pending {
			op := &ops[i]
			k := op.Service.Key
			if failed[k] && op.Kind != DeleteService {
				continue
			}
			if adding[k] {
				next = append(next, i)
				continue
			}
			wave = append(wave, i)
			if op.Kind == AddService {
				if adding == nil {
					adding = map[dataplane.ServiceKey]bool{}
				}
				adding[k] = true
			}
		}
		n, err := pl.Pipeline(ctx, len(wave), func(j int) dataplane.Change { return changeOf(&ops[wave[j]]) },
			func(j int, err error) {
				op := &ops[wave[j]]
				sent++
				if err == nil {
					r.note(*op)
					return
				}
				errs = append(errs, &OpError{Op: *op, Err: err})
				if op.Kind == AddService {
					// The plane holds nothing for the service, as
					// believed; the rest of its operations are skipped.
					if failed == nil {
						failed = map[dataplane.ServiceKey]bool{}
					}
					failed[op.Service.Key] = true
					r.refused[op.Service.Key] = op.Service
				} else {
					// The plane may hold something else than believed;
					// read it again before the next Apply.
					r.synced = false
				}
				r.log.Warn("data plane refused an operation", "op", op.String(), "err", err)
			})
		if n < len(wave) {
			// The outcome of the rest of the wave is unknown: read the
			// plane again before the next Apply.
			r.synced = false
			errs = append(errs, err)
			return sent, errs
		}
		pending, next = next, pending
	}
	return sent, errs
}

// changeOf is op as the plane's Change.
func changeOf(op *Op) dataplane.Change {
	c := dataplane.Change{Service: op.Service, Dest: op.Dest}
	switch op.Kind {
	case AddService:
		c.Kind = dataplane.ChangeAddService
	case UpdateService:
		c.Kind = dataplane.ChangeUpdateService
	case DeleteService:
		c.Kind = dataplane.ChangeDeleteService
	case AddDest:
		c.Kind = dataplane.ChangeAddDest
	case UpdateDest:
		c.Kind = dataplane.ChangeUpdateDest
	case DeleteDest:
		c.Kind = dataplane.ChangeDeleteDest
	}
	return c
}

// serviceOps are the operations of one service, in order, and the entry
// the service has once they are applied (nil: deleted).
type serviceOps struct {
	key   dataplane.ServiceKey
	ops   []Op
	entry *dataplane.Entry
	// bad is set when the operations do not fit the belief.
	bad error
}

// runBatch is run for a plane that batches: every service's operations
// are folded into its new entry and all of them go in one transaction. If
// the plane refuses it, each service is applied on its own, so that one
// bad service does not keep the others from coming up, and each refusal
// is reported as an *OpError of its service's first operation; a service
// is applied whole or not at all. The count is of operations, as run
// counts them (a refused service as one), not of transactions.
func (r *Reconciler) runBatch(ctx context.Context, b batcher, ops []Op) (int, []error) {
	var groups []*serviceOps
	byKey := map[dataplane.ServiceKey]*serviceOps{}
	for _, op := range ops {
		k := op.Service.Key
		g, ok := byKey[k]
		if !ok {
			g = &serviceOps{key: k}
			if have, ok := r.actual[k]; ok {
				e := have.entry()
				g.entry = &e
			}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.ops = append(g.ops, op)
		if g.bad == nil {
			var ok bool
			if g.entry, ok = fold(g.entry, op); !ok {
				g.bad = &OpError{Op: op, Err: fmt.Errorf("the service is not in the table: %w", syscall.ESRCH)}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, []error{err}
	}
	var errs []error
	all := make(map[dataplane.ServiceKey]*dataplane.Entry, len(groups))
	for _, g := range groups {
		if g.bad != nil {
			// Not sent: the belief is in doubt, read the plane again.
			errs = append(errs, g.bad)
			r.synced = false
			continue
		}
		all[g.key] = g.entry
	}
	if len(all) == 0 {
		return 0, errs
	}
	sent := 0
	err := b.ApplyBatch(ctx, all)
	if err == nil {
		for _, g := range groups {
			if g.bad == nil {
				sent += len(g.ops)
				for _, op := range g.ops {
					r.note(op)
				}
			}
		}
		return sent, errs
	}
	if len(all) > 1 {
		r.log.Warn("data plane refused a batch; applying its services one by one", "services", len(all), "err", err)
	}
	for _, g := range groups {
		if g.bad != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		gerr := err // a batch of one service was this one's answer
		if len(all) > 1 {
			gerr = b.ApplyBatch(ctx, map[dataplane.ServiceKey]*dataplane.Entry{g.key: g.entry})
		}
		if gerr != nil {
			// Counted as one, the operation reported, as run counts a
			// refused add whose destinations it skips.
			sent++
			first := g.ops[0]
			errs = append(errs, &OpError{Op: first, Err: gerr})
			if first.Kind == AddService {
				// The plane holds nothing for the service, as believed.
				r.refused[g.key] = first.Service
			}
			// Otherwise it holds the service as before: the belief
			// stands, and the next Apply tries again.
			r.log.Warn("data plane refused a service's operations", "vs", g.key.String(), "ops", len(g.ops), "err", gerr)
			continue
		}
		sent += len(g.ops)
		for _, op := range g.ops {
			r.note(op)
		}
	}
	return sent, errs
}

// fold returns e (nil: no service) after op, false if op needs a service
// e does not hold (which Diff never asks).
func fold(e *dataplane.Entry, op Op) (*dataplane.Entry, bool) {
	switch op.Kind {
	case AddService:
		return &dataplane.Entry{Service: op.Service, Dests: map[dataplane.DestKey]dataplane.Destination{}}, true
	case DeleteService:
		return nil, e != nil
	}
	if e == nil {
		return nil, false
	}
	switch op.Kind {
	case UpdateService:
		e.Service = op.Service
	case AddDest, UpdateDest:
		e.Dests[op.Dest.Key] = op.Dest
	case DeleteDest:
		delete(e.Dests, op.Dest.Key)
	}
	return e, true
}
