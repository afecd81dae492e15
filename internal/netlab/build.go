package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// BuildDaemon builds vigil/cmd/vigil into dir/vigil for the tests that run
// the real daemon. With race set it is built with the race detector (its
// runtime needs cgo, though Vigil's own code uses none): the daemon's
// goroutines share state, and a race there is a defect those tests must
// catch. Without it the binary is the static one the package ships, for
// figures worth recording. The build is bounded by timeout.
func BuildDaemon(dir string, race bool, timeout time.Duration) (string, error) {
	bin := filepath.Join(dir, "vigil")
	args := []string{"build", "-trimpath", "-o", bin, "vigil/cmd/vigil"}
	env := "CGO_ENABLED=0"
	if race {
		args = []string{"build", "-race", "-o", bin, "vigil/cmd/vigil"}
		env = "CGO_ENABLED=1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, GoTool(), args...)
	cmd.Env = append(os.Environ(), env)
	if out, err := cmd.CombinedOutput(); err != nil {
		what := "go build vigil/cmd/vigil"
		if race {
			what = "go build -race vigil/cmd/vigil (the race detector needs a C compiler)"
		}
		return "", fmt.Errorf("%s: %v\n%s", what, err, out)
	}
	return bin, nil
}

// GoTool is the go command: the one on PATH, else the one of the toolchain
// that built the running test (root's PATH under sudo often lacks it).
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
