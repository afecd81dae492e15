package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
)

// A VRRP instance at advert_int 0.01 must send an advert every 10 ms, and a
// backup declares the master dead after about 30 ms of silence. On a busy
// machine the normal scheduler can keep a ready process off the CPU for
// longer than that, so a master that is alive looks dead and the pair flaps.
// keepalived's answer is real-time scheduling and locked memory for its VRRP
// process, asked for in global_defs; Vigil honours the same keywords, for
// the whole process: every thread, since the Go runtime may run an
// instance's goroutine on any of them.

// maxThreadPasses bounds the walks over the process's threads. The Go runtime
// may start a thread while a walk is under way, cloned from a thread that was
// not switched yet; another pass catches it. Threads started after a pass
// that found nothing new inherit the policy from the thread that made them.
const maxThreadPasses = 10

// schedPlan is what applyScheduling does to the process, worked out from the
// configuration alone so that the choice can be tested without privileges.
type schedPlan struct {
	// rtPriority, when above zero, puts every thread under SCHED_RR at this
	// priority (1..99).
	rtPriority int
	// nice, when set and rtPriority is zero, is the nice value of every
	// thread. keepalived too ignores vrrp_priority once real-time
	// scheduling is on: a nice value means nothing to the RT scheduler.
	nice *int
	// rttime is the RLIMIT_RTTIME hard limit in microseconds (the soft limit
	// is half of it, as keepalived does); zero sets no limit. Only with
	// real-time scheduling.
	rttime int
	// lockMemory asks for mlockall(MCL_CURRENT|MCL_FUTURE), so that a page
	// fault on a swapped-out page never delays an advert.
	lockMemory bool
	// cpus, if not empty, is the CPU affinity of every thread.
	cpus []int
}

// planScheduling derives the plan from the vrrp_* process settings of
// global_defs (vrrp_rt_priority, vrrp_rlimit_rttime, vrrp_priority,
// vrrp_no_swap, vrrp_cpu_affinity).
//
// Unlike keepalived, Vigil sets no RLIMIT_RTTIME unless vrrp_rlimit_rttime
// is given: keepalived's default of 10 ms between blocking calls is made for
// a single-threaded C event loop, while a Go thread may legitimately run
// longer (a garbage collection cycle, a burst of instances), and the hard
// limit is SIGKILL, which would leave the virtual addresses behind. The
// kernel's RT throttling (kernel.sched_rt_runtime_us) still keeps a share of
// each CPU for ordinary processes.
//
// Unlike keepalived, Vigil runs its VRRP side under SCHED_RR by default, at
// the lowest real-time priority (DefaultRTPriority), when global_defs says
// nothing about it: a busy machine (builds, a backup job, a traffic burst
// handled in user space) must never make a live master look dead, and that
// is the one failure an HA daemon cannot have. It is bounded: the process
// runs Go code on one thread (GOMAXPROCS 1, see cmd/vigil), and the
// kernel's RT throttling keeps a share of the CPU for everything else.
// vrrp_priority (any value, 0 included) keeps Vigil on the normal scheduler
// at that nice value, which is how an operator opts out.
func planScheduling(t config.ProcessTuning) schedPlan {
	p := schedPlan{lockMemory: t.NoSwap, cpus: t.CPUAffinity}
	switch {
	case t.RTPriority > 0:
		p.rtPriority = t.RTPriority
		p.rttime = t.RlimitRTTime
	case t.Priority != nil:
		if n := *t.Priority; n != 0 {
			p.nice = &n
		}
	default:
		p.rtPriority = DefaultRTPriority
		p.rttime = t.RlimitRTTime
	}
	return p
}

// DefaultRTPriority is the SCHED_RR priority Vigil's threads get when
// global_defs sets neither vrrp_rt_priority nor vrrp_priority: the lowest,
// above every normal process and below any real-time one an operator set up.
const DefaultRTPriority = 1

// empty reports whether the plan leaves the process as it is.
func (p schedPlan) empty() bool {
	return p.rtPriority == 0 && p.nice == nil && !p.lockMemory && len(p.cpus) == 0
}

// applyScheduling sets the scheduling of the whole process from global_defs
// (vrrp_rt_priority, vrrp_rlimit_rttime, vrrp_priority, vrrp_no_swap,
// vrrp_cpu_affinity). It is to be called once, before the VRRP instances and
// their goroutines start: threads made later inherit the policy, priority
// and affinity of the thread that creates them.
//
// Every setting is tried even if an earlier one fails. A non-nil error says
// what could not be done; the process is still usable, and the daemon should
// log the error and run on, as keepalived does.
//
// Children started later (notify and track scripts) inherit the real-time
// policy too; SCHED_RESET_ON_FORK, keepalived's guard against that, would
// also strip it from the Go runtime's own new threads, so it is not used.
func applyScheduling(g config.GlobalDefs, log *slog.Logger) error {
	p := planScheduling(g.VRRPProcess)
	if p.empty() {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if p.lockMemory {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
			errs = append(errs, fmt.Errorf("vrrp_no_swap: locking memory: %w", err))
		} else {
			log.Info("memory locked (vrrp_no_swap)")
		}
	}
	if p.rttime > 0 {
		// Before the switch to SCHED_RR, so that there is never an RT
		// thread without the limit.
		lim := unix.Rlimit{Cur: uint64(p.rttime / 2), Max: uint64(p.rttime)}
		if lim.Cur == 0 {
			lim.Cur = lim.Max
		}
		if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &lim); err != nil {
			errs = append(errs, fmt.Errorf("vrrp_rlimit_rttime %d: %w", p.rttime, err))
		}
	}
	if len(p.cpus) > 0 {
		var set unix.CPUSet
		for _, c := range p.cpus {
			set.Set(c)
		}
		n, err := forEachThread(func(tid int) error { return unix.SchedSetaffinity(tid, &set) })
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp_cpu_affinity %v: %w", p.cpus, err))
		} else {
			log.Info("CPU affinity set (vrrp_cpu_affinity)", "cpus", fmt.Sprint(p.cpus), "threads", n)
		}
	}
	switch {
	case p.rtPriority > 0:
		attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(p.rtPriority)}
		n, err := forEachThread(func(tid int) error {
			a := attr // SchedSetAttr writes the size field
			return unix.SchedSetAttr(tid, &a, 0)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp_rt_priority %d: %w", p.rtPriority, err))
		} else {
			log.Info(rtMessage(g.VRRPProcess), "policy", "SCHED_RR", "priority", p.rtPriority, "threads", n, "rlimit_rttime_us", p.rttime)
		}
	case p.nice != nil:
		// Linux keeps the nice value per thread: setpriority(PRIO_PROCESS)
		// on a thread id changes that thread only.
		n, err := forEachThread(func(tid int) error { return unix.Setpriority(unix.PRIO_PROCESS, tid, *p.nice) })
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp_priority %d: %w", *p.nice, err))
		} else {
			log.Info("process priority set (vrrp_priority)", "nice", *p.nice, "threads", n)
		}
	}
	return errors.Join(errs...)
}

// rtMessage is the line that says real-time scheduling is on, and why: the
// keyword when the configuration sets it, Vigil's default when it does not
// (an operator reading the log must not look for a keyword that is not in
// the file).
func rtMessage(t config.ProcessTuning) string {
	if t.RTPriority > 0 {
		return "real-time scheduling on (vrrp_rt_priority)"
	}
	return "real-time scheduling on (Vigil's default: vrrp_rt_priority is not set; vrrp_priority opts out)"
}

// forEachThread calls fn once for every thread of the process, passing
// over /proc/self/task until a pass finds no thread it has not seen. It
// returns how many threads it handled. A thread that exits between the
// listing and fn (ESRCH) is not an error.
func forEachThread(fn func(tid int) error) (int, error) {
	done := map[int]bool{}
	var errs []error
	for pass := 0; pass < maxThreadPasses; pass++ {
		tids, err := threadIDs()
		if err != nil {
			return len(done), err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			done[tid] = true
			fresh++
			if err := fn(tid); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
			}
		}
		if fresh == 0 {
			return len(done), errors.Join(errs...)
		}
	}
	errs = append(errs, fmt.Errorf("threads kept appearing after %d passes over /proc/self/task", maxThreadPasses))
	return len(done), errors.Join(errs...)
}

// threadIDs lists the thread ids of the process.
func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a thread directory
		}
		tids = append(tids, tid)
	}
	return tids, nil
}
