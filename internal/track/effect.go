package track

// Priority limits (RFC 5798 and keepalived).
const (
	// PriorityOwner is the address owner's priority, which tracking never
	// changes.
	PriorityOwner = 255
	// maxTracked is the highest priority tracking can produce.
	maxTracked = 254
	// FileFault is the tracked-file result at or below which an instance
	// goes to FAULT instead of changing priority.
	FileFault = -254
	// fileMax is the highest file result that counts.
	fileMax = 253
)

// Effect is what one tracked object does to an instance: a priority change,
// or a fault.
type Effect struct {
	Delta int
	Fault bool
}

// BinaryEffect is the effect of an up/down object (script, interface,
// process quorum) tracked with weight and reverse, as keepalived computes it:
//
//   - weight 0: FAULT while down (reverse: FAULT while up);
//   - weight > 0: +weight while up (reverse: -weight while up);
//   - weight < 0: weight while down (reverse: -weight, i.e. +|weight|, while down).
func BinaryEffect(up bool, weight int, reverse bool) Effect {
	if weight == 0 {
		return Effect{Fault: up == reverse}
	}
	mult := 1
	if reverse {
		mult = -1
	}
	if (up && weight > 0) || (!up && weight < 0) {
		return Effect{Delta: weight * mult}
	}
	return Effect{}
}

// FileEffect is the effect of a tracked file holding value, tracked with
// weight and reverse. With weight 0 a non-zero value is a FAULT (reverse: a
// zero value is). Otherwise value × weight (negated by reverse) is the
// priority change, limited to 253; a result of -254 or less is a FAULT. The
// value itself is limited to ±254 first, as keepalived reads it.
func FileEffect(value int64, weight int, reverse bool) Effect {
	value = clamp64(value, -254, 254)
	if weight == 0 {
		return Effect{Fault: (value != 0) != reverse}
	}
	mult := int64(1)
	if reverse {
		mult = -1
	}
	r := value * int64(weight) * mult
	if r <= FileFault {
		return Effect{Fault: true}
	}
	return Effect{Delta: int(min(r, fileMax))}
}

// EffectivePriority is base plus the sum of the tracking deltas, limited to
// 1..254. The address owner (255) keeps 255 whatever is tracked.
func EffectivePriority(base, delta int) int {
	if base == PriorityOwner {
		return PriorityOwner
	}
	return int(clamp64(int64(base)+int64(delta), 1, maxTracked))
}

func clamp64(v, lo, hi int64) int64 {
	return max(lo, min(v, hi))
}
