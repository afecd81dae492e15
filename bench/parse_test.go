package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// secCheck is the report section of BenchmarkConfigCheck.
const secCheck = "Configuration check: 10,000 virtual servers, whole process"

// checkRounds is how many times each configuration check runs.
func checkRounds() int {
	if quick {
		return 5
	}
	return 21
}

// BenchmarkConfigCheck times the whole process of "vigil -t -f FILE" and
// "keepalived -t -l -f FILE" on the generated file of 10,000 virtual
// servers (LVSConfig), one after the other, alternating which goes first,
// and reports the medians of wall time and of CPU time (user + system, from
// the exit status) and their ratios. Both are measured in the same rounds,
// so load from other processes falls on both.
func BenchmarkConfigCheck(b *testing.B) {
	need(b)
	rep.header(secCheck, "| implementation | rounds | median wall (ms) | fastest wall (ms) | median CPU (ms) | wall / keepalived | CPU / keepalived |")
	path := filepath.Join(b.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(LVSConfig(10000)), 0o644); err != nil {
		b.Fatal(err)
	}
	cmds := [][]string{
		{vigilBin, "-t", "-f", path},
		{keepalivedBin, "-t", "-l", "-f", path},
	}
	var wall, cpu [2][]time.Duration
	for r := 0; r < checkRounds(); r++ {
		for k := range 2 {
			i := (r + k) % 2 // alternate which runs first
			w, c, err := runCheck(cmds[i])
			if err != nil {
				b.Fatal(err)
			}
			wall[i] = append(wall[i], w)
			cpu[i] = append(cpu[i], c)
		}
	}
	mw := [2]time.Duration{Median(wall[0]), Median(wall[1])}
	mc := [2]time.Duration{Median(cpu[0]), Median(cpu[1])}
	rw, rc := float64(mw[0])/float64(mw[1]), float64(mc[0])/float64(mc[1])
	b.ReportMetric(ms(mw[0]), "vigil_ms")
	b.ReportMetric(ms(mw[1]), "keepalived_ms")
	b.ReportMetric(rw, "wall_ratio")
	b.ReportMetric(rc, "cpu_ratio")
	for i, name := range []string{"vigil", "keepalived"} {
		ratioW, ratioC := fmt.Sprintf("%.2f", rw), fmt.Sprintf("%.2f", rc)
		if i == 1 {
			ratioW, ratioC = "1", "1"
		}
		rep.add(secCheck, []string{name, strconv.Itoa(len(wall[i])), fmtMS(mw[i]), fmtMS(slices.Min(wall[i])), fmtMS(mc[i]), ratioW, ratioC})
	}
}

// runCheck runs one configuration check and returns its wall and CPU time.
// It must succeed: both implementations accept the generated file.
func runCheck(argv []string) (wall, cpu time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	wall = time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("%s -t: %v\n%s", filepath.Base(argv[0]), err, tail(string(out), 10))
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}
