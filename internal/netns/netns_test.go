package netns

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"vigil/internal/netlab"
)

func TestInsideUnknownNamespace(t *testing.T) {
	if _, err := Inside("vigil-no-such-namespace"); err == nil {
		t.Error("Inside of a namespace that does not exist: no error")
	}
	// Enter reports the same, and does not re-execute anything.
	if err := Enter("vigil-no-such-namespace"); err == nil {
		t.Error("Enter of a namespace that does not exist: no error")
	}
}

// helperEnv makes the test binary, run again inside a namespace, answer
// Inside for it (TestHelperInside) instead of running the tests.
const helperEnv = "VIGIL_NETNS_TEST_HELPER"

func TestHelperInside(t *testing.T) {
	name := os.Getenv(helperEnv)
	if name == "" {
		t.Skip("helper for TestInside")
	}
	in, err := Inside(name)
	fmt.Printf("inside=%v err=%v\n", in, err)
}

// The test runs outside the lab's namespace; the same program started in
// it (ip netns exec) finds itself inside. Entering it for real re-executes
// the program: test/e2e starts a daemon that does.
func TestInside(t *testing.T) {
	l := netlab.New(t)
	h := l.AddHost("a", "10.77.9.2/24")
	if in, err := Inside(h.Name()); err != nil || in {
		t.Errorf("Inside(%s) from the test's namespace = %v, %v; want false", h.Name(), in, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Exec(t.Context(), "env", helperEnv+"="+h.Name(), exe, "-test.run=^TestHelperInside$", "-test.v")
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "inside=true err=<nil>") {
		t.Errorf("in the namespace, Inside said:\n%s", out)
	}
}
