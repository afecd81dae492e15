package check

import (
	"context"
	"time"

	"vigil/internal/notify/script"
)

// MiscProber is MISC_CHECK: the script's exit status decides. 0 passes;
// with misc_dynamic, 2..255 pass too and set the real server's weight to
// status - 2 (0 goes back to the configured weight); anything else, a
// signal or the timeout fails.
type MiscProber struct {
	Script  *script.Script
	Timeout time.Duration
	Dynamic bool
}

// Probe runs the script once.
func (p *MiscProber) Probe(ctx context.Context, _ int) Result {
	res := p.Script.Run(ctx, p.Timeout)
	return p.judge(res)
}

func (p *MiscProber) judge(res script.Result) Result {
	switch {
	case res.Err != nil || res.TimedOut || res.Signal != 0:
		return failure("misc script %s %s", p.Script.Argv[0], res)
	case res.ExitCode == 0 && p.Dynamic:
		// The legacy 0 of a dynamic script drops any weight it set.
		return Result{OK: true, HasWeight: true, WeightIsDelta: true}
	case res.ExitCode == 0:
		return Result{OK: true}
	case p.Dynamic && res.ExitCode >= 2 && res.ExitCode <= 255:
		return Result{OK: true, HasWeight: true, Weight: res.ExitCode - 2}
	default:
		return failure("misc script %s %s", p.Script.Argv[0], res)
	}
}
