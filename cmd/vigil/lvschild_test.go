package main

import (
	"bytes"
	"strings"
	"testing"
)

// vigil -t builds the checkers too: a MISC_CHECK whose script does not
// exist is reported with its file:line and fails the test, although the
// configuration parses.
func TestConfigTestReportsCheckersThatCannotRun(t *testing.T) {
	conf := `virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.0.0.2 80 {
    MISC_CHECK {
      misc_path "/nonexistent/vigil-check-script"
    }
  }
}
`
	path := writeConf(t, conf)
	var out, errb bytes.Buffer
	code := runWith([]string{"-t", "-f", path}, &out, &errb, noGOMAXPROCS)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInvalid, errb.String())
	}
	for _, want := range []string{path + ":6:", "vigil-check-script", "checker(s) cannot run"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	// The same file with a script that exists is valid.
	good := writeConf(t, strings.Replace(conf, "/nonexistent/vigil-check-script", "/bin/true", 1))
	errb.Reset()
	if code := runWith([]string{"-t", "-f", good}, &out, &errb, noGOMAXPROCS); code != exitOK {
		t.Fatalf("valid file: exit %d; stderr:\n%s", code, errb.String())
	}
}

// Next to an error the daemon runs past (a checker's port out of range),
// -t still lists the checkers that cannot run, with file:line: the daemon
// would meet them too.
func TestConfigTestReportsCheckersNextToTolerableErrors(t *testing.T) {
	conf := `virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.0.0.2 80 {
    MISC_CHECK {
      misc_path "/nonexistent/vigil-check-script"
    }
    TCP_CHECK {
      connect_port 70000
    }
  }
}
`
	path := writeConf(t, conf)
	var out, errb bytes.Buffer
	if code := runWith([]string{"-t", "-f", path}, &out, &errb, noGOMAXPROCS); code != exitInvalid {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInvalid, errb.String())
	}
	for _, want := range []string{path + ":6: MISC_CHECK", "vigil-check-script", path + ":10: error: connect_port", "(2 error(s))"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
