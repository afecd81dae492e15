package bench

import "testing"

// TestParsePSS reads the Pss line of a real smaps_rollup (and not
// Pss_Anon, Pss_File or Pss_Shmem, which follow it), and refuses input
// without one or with a malformed one.
func TestParsePSS(t *testing.T) {
	const rollup = `55d1c2a4f000-7ffd5a3fe000 ---p 00000000 00:00 0                          [rollup]
Rss:                4132 kB
Pss:                1234 kB
Pss_Dirty:           800 kB
Pss_Anon:            700 kB
Pss_File:            534 kB
Pss_Shmem:             0 kB
Shared_Clean:       2800 kB
`
	got, err := ParsePSS(rollup)
	if err != nil || got != 1234*1024 {
		t.Errorf("ParsePSS = %d, %v; want %d", got, err, 1234*1024)
	}
	for _, bad := range []string{"Rss: 4 kB\n", "Pss: 12\n", "Pss: x kB\n", "Pss: 12 MB\n"} {
		if _, err := ParsePSS(bad); err == nil {
			t.Errorf("ParsePSS(%q) accepted it", bad)
		}
	}
}
