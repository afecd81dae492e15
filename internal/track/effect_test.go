package track

import "testing"

func TestBinaryEffect(t *testing.T) {
	tests := []struct {
		name    string
		up      bool
		weight  int
		reverse bool
		want    Effect
	}{
		{"weight 0 up", true, 0, false, Effect{}},
		{"weight 0 down is a fault", false, 0, false, Effect{Fault: true}},
		{"weight 0 reverse up is a fault", true, 0, true, Effect{Fault: true}},
		{"weight 0 reverse down", false, 0, true, Effect{}},
		{"positive up adds", true, 10, false, Effect{Delta: 10}},
		{"positive down nothing", false, 10, false, Effect{}},
		{"negative down subtracts", false, -20, false, Effect{Delta: -20}},
		{"negative up nothing", true, -20, false, Effect{}},
		{"positive reverse up subtracts", true, 10, true, Effect{Delta: -10}},
		{"positive reverse down nothing", false, 10, true, Effect{}},
		{"negative reverse down adds", false, -20, true, Effect{Delta: 20}},
		{"negative reverse up nothing", true, -20, true, Effect{}},
	}
	for _, tc := range tests {
		if got := BinaryEffect(tc.up, tc.weight, tc.reverse); got != tc.want {
			t.Errorf("%s: BinaryEffect(%v, %d, %v) = %+v, want %+v", tc.name, tc.up, tc.weight, tc.reverse, got, tc.want)
		}
	}
}

func TestFileEffect(t *testing.T) {
	tests := []struct {
		name    string
		value   int64
		weight  int
		reverse bool
		want    Effect
	}{
		{"weight 0, zero is OK", 0, 0, false, Effect{}},
		{"weight 0, non-zero is a fault", 5, 0, false, Effect{Fault: true}},
		{"weight 0, negative is a fault", -1, 0, false, Effect{Fault: true}},
		{"weight 0 reverse, zero is a fault", 0, 0, true, Effect{Fault: true}},
		{"weight 0 reverse, non-zero is OK", 3, 0, true, Effect{}},
		{"value times weight", 5, 2, false, Effect{Delta: 10}},
		{"negative value", -5, 2, false, Effect{Delta: -10}},
		{"negative weight", 5, -3, false, Effect{Delta: -15}},
		{"reverse negates", 5, 2, true, Effect{Delta: -10}},
		{"limited to 253", 200, 2, false, Effect{Delta: 253}},
		{"-253 still a delta", -253, 1, false, Effect{Delta: -253}},
		{"-254 is a fault", -254, 1, false, Effect{Fault: true}},
		{"below -254 is a fault", -100, 3, false, Effect{Fault: true}},
		{"value limited to -254 before weighting", -1000, 1, false, Effect{Fault: true}},
		{"value limited to 254 before weighting", 1000, -1, false, Effect{Fault: true}},
		{"value 254 weight 1 limited to 253", 254, 1, false, Effect{Delta: 253}},
		{"zero value no change", 0, 7, false, Effect{}},
	}
	for _, tc := range tests {
		if got := FileEffect(tc.value, tc.weight, tc.reverse); got != tc.want {
			t.Errorf("%s: FileEffect(%d, %d, %v) = %+v, want %+v", tc.name, tc.value, tc.weight, tc.reverse, got, tc.want)
		}
	}
}

func TestEffectivePriority(t *testing.T) {
	tests := []struct {
		base, delta, want int
	}{
		{100, 0, 100},
		{100, 20, 120},
		{100, -30, 70},
		{100, 200, 254},
		{100, 154, 254},
		{100, -99, 1},
		{100, -100, 1},
		{100, -1000, 1},
		{254, 1, 254},
		{1, -1, 1},
		{255, -100, 255},
		{255, 50, 255},
		{255, 0, 255},
	}
	for _, tc := range tests {
		if got := EffectivePriority(tc.base, tc.delta); got != tc.want {
			t.Errorf("EffectivePriority(%d, %d) = %d, want %d", tc.base, tc.delta, got, tc.want)
		}
	}
}
