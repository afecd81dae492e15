package main

import (
	"strings"
	"testing"
)

// FuzzParseOptions: any command line is either parsed or refused with an
// error, never a panic, and a parsed one leaves no flag-shaped word unread
// before the command words.
func FuzzParseOptions(f *testing.F) {
	for _, seed := range []string{
		"-f /etc/keepalived/keepalived.conf -l -D",
		"-lDnf/x.conf",
		"--use=/x --dump-conf",
		"-S local7 -g -G --log-file=/tmp/l",
		"-t/tmp/ct.log -e -i lb1",
		"--signum=JSON",
		"-s blue -p /run/a.pid -r /run/b.pid -c /run/c.pid status --json",
		"-u 027 -m -M --core-dump-pattern=core",
		"-- -x",
		"--d",
		"-S",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv := strings.Fields(line)
		o, err := parseOptions(argv)
		if err != nil {
			if o != nil {
				t.Errorf("parseOptions(%q): options and an error", argv)
			}
			return
		}
		if len(o.args) > len(argv) {
			t.Errorf("parseOptions(%q): more command words than words", argv)
		}
	})
}
