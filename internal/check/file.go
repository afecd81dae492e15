package check

import (
	"context"
	"log/slog"
	"math"

	"vigil/internal/track"
)

// Watcher feeds a FILE_CHECK machine: it sends the tracked file's value as a
// Result at once and again whenever it changes, until ctx ends.
type Watcher interface {
	Watch(ctx context.Context, out func(Result))
}

// FileWatcher is FILE_CHECK: a track_file's value through the checker's
// weight (its own, else the track_file's; negated by reverse). With weight
// 0, a non-zero value (zero, reversed) is a fault; otherwise the value
// times the weight is the delta added to the real server's weight, and a
// product at or below -2^31 is a fault, as keepalived has it. The file is
// read as track_file reads it (internal/track); the tracker is made when
// watching starts, so that Build writes nothing (init_file).
type FileWatcher struct {
	File    track.FileConfig
	Weight  int
	Reverse bool
	Log     *slog.Logger
}

// FileResult turns a file value into the checker's Result.
func FileResult(value int64, weight int, reverse bool) Result {
	if weight == 0 {
		if (value != 0) != reverse {
			return failure("tracked file value %d", value)
		}
		return Result{OK: true, HasWeight: true, WeightIsDelta: true}
	}
	mult := int64(1)
	if reverse {
		mult = -1
	}
	v := value * int64(weight) * mult
	if v <= math.MinInt32 {
		return failure("tracked file value %d", value)
	}
	return Result{OK: true, HasWeight: true, WeightIsDelta: true, Weight: int(min(v, math.MaxInt32))}
}

// Watch reads the file, then follows it. A file that cannot be tracked
// (its directory is gone, init_file cannot be written) is a fault.
func (w *FileWatcher) Watch(ctx context.Context, out func(Result)) {
	tr, err := track.NewFileTracker(w.File, w.Log)
	if err != nil {
		out(failure("%v", err))
		return
	}
	first := tr.Initial()
	out(FileResult(first.Value, w.Weight, w.Reverse))
	ch := make(chan track.Update)
	go tr.Run(ctx, first.Value, ch)
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-ch:
			out(FileResult(u.Value, w.Weight, w.Reverse))
		}
	}
}
