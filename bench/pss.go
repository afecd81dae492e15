package bench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// ParsePSS returns the proportional set size in bytes from the content of
// /proc/PID/smaps_rollup: the process's private pages plus its share of
// the pages it shares (keepalived's checker child shares its parent's
// pages after the fork, which RSS counts in full in both).
func ParsePSS(rollup string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(rollup))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Pss:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("smaps_rollup: malformed Pss line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("smaps_rollup: Pss %q: %w", f[0], err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("smaps_rollup: no Pss line")
}
