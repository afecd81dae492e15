package e2e

// A node must come up on the file the keepalived it replaces ran: a mistake
// keepalived runs past (an unknown keyword) is logged, counted in
// `vigil status --json` and reported by `vigil reload`, and --strict
// refuses it instead. Everything here is read from the JSON replies.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// tolerantStatus is the part of `vigil status --json` this test reads,
// with the field names docs/OPERATIONS.md promises.
type tolerantStatus struct {
	Config *struct {
		File            string   `json:"file"`
		ToleratedErrors int      `json:"tolerated_errors"`
		Warnings        int      `json:"warnings"`
		Diagnostics     []string `json:"diagnostics"`
	} `json:"config"`
}

// tolerantReload is `vigil reload --json`'s reply, by its documented names.
type tolerantReload struct {
	Tolerated []string `json:"tolerated_errors"`
	Warnings  []string `json:"warnings"`
	Instances struct {
		Added     []string `json:"added"`
		Removed   []string `json:"removed"`
		InPlace   []string `json:"changed_in_place"`
		Restarted []string `json:"restarted"`
		Unchanged []string `json:"unchanged"`
	} `json:"instances"`
}

// lineOf is the 1-based line of conf whose trimmed text is want.
func lineOf(t *testing.T, conf, want string) int {
	t.Helper()
	for i, l := range strings.Split(conf, "\n") {
		if strings.TrimSpace(l) == want {
			return i + 1
		}
	}
	t.Fatalf("test bug: %q not in the config", want)
	return 0
}

func TestTolerantStartAndReload(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a")
	a := hs["a"]
	const typo = "nopreemt"
	in := Instance{Name: "VI_1", State: "MASTER", Priority: 150, AdvertInt: "1", VIPs: []string{vip4 + "/24"}, Extra: []string{typo}}
	conf := Conf(nil, in)

	// --strict refuses the file the default start runs past.
	strict := StartVigil(t, a, conf, "--strict")
	if code := strict.WaitExit(10 * time.Second); code == 0 {
		t.Fatalf("vigil --strict started on a file with an unknown keyword")
	}

	v := StartVigil(t, a, conf)
	WaitVIP(t, 10*time.Second, []*netlab.Host{a}, "eth0", vip4, a)
	where := fmt.Sprintf("%s:%d", v.ConfFile, lineOf(t, conf, typo))
	var st tolerantStatus
	if out, err := statusInto(a, v, &st); err != nil {
		t.Fatalf("vigil status --json: %v: %s", err, out)
	}
	if st.Config == nil || st.Config.ToleratedErrors != 1 || st.Config.File != v.ConfFile ||
		len(st.Config.Diagnostics) == 0 || !strings.HasPrefix(st.Config.Diagnostics[0], where+": error: unknown keyword \"nopreemt\"") {
		t.Fatalf("status config = %+v, want one tolerated error at %s", st.Config, where)
	}

	// A reload adding an instance, with a second mistake: applied, and the
	// reply names both mistakes and what changed.
	const typo2 = "advert_intt 1"
	in2 := Instance{Name: "VI_2", State: "MASTER", VRID: 52, Priority: 150, AdvertInt: "1", VIPs: []string{"10.77.0.102/24"}, Extra: []string{typo2}}
	conf2 := Conf(nil, in, in2)
	writeConf(t, v, conf2)
	out, err := opsCLI(a, nil, "reload", "--json", "--socket", opsSocket(v))
	if err != nil {
		t.Fatalf("vigil reload --json: %v: %s", err, out)
	}
	var rep tolerantReload
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("vigil reload --json: %v in %q", err, out)
	}
	if !slices.Equal(rep.Instances.Added, []string{"VI_2"}) || !slices.Equal(rep.Instances.Unchanged, []string{"VI_1"}) ||
		len(rep.Instances.Removed)+len(rep.Instances.InPlace)+len(rep.Instances.Restarted) != 0 {
		t.Errorf("reload instances = %+v, want VI_2 added and VI_1 unchanged", rep.Instances)
	}
	where2 := fmt.Sprintf("%s:%d", v.ConfFile, lineOf(t, conf2, typo2))
	if len(rep.Tolerated) != 2 || !strings.HasPrefix(rep.Tolerated[1], where2+": error: unknown keyword \"advert_intt\"") {
		t.Errorf("reload tolerated = %q, want the two mistakes, the second at %s", rep.Tolerated, where2)
	}
	WaitVIP(t, 10*time.Second, []*netlab.Host{a}, "eth0", "10.77.0.102", a)
}
