// Package lvsproc is the LVS process: the child the VRRP process starts
// (or the whole daemon under -C) that runs the health checkers, the lvs
// Engine and Reconciler and a data plane, and reports its status and
// events to the parent over a pipe. It also holds the parent's side: the
// Supervisor that starts, restarts and stops that child.
package lvsproc

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/ipvs"
	"vigil/internal/dataplane/nft"
	"vigil/internal/dataplane/proxy"
)

// Candidate is one data plane Vigil can run on: its --dataplane name and
// how to open it. Open returns an error that says why the plane cannot run
// here (ipvs.ErrNoIPVS, say).
type Candidate struct {
	Name string
	Open func() (dataplane.Plane, error)
}

// Candidates are the data planes in the order auto tries them: the
// kernel's IPVS when it has it, else (as they land) nftables, else the
// userspace proxy. A new plane is one line in candidates.
var Candidates = candidates(nil)

// candidates are the data planes, those that log (nftables: its DR real
// servers' MACs) logging to log (nil: slog's default).
func candidates(log *slog.Logger) []Candidate {
	return []Candidate{
		{Name: "ipvs", Open: func() (dataplane.Plane, error) { return ipvs.Open(ipvs.Options{}) }},
		{Name: "nftables", Open: func() (dataplane.Plane, error) { return nft.New(nft.Config{Log: log}) }},
		{Name: "proxy", Open: func() (dataplane.Plane, error) { return proxy.New(proxy.Options{}), nil }},
	}
}

// Known are the names --dataplane accepts, built or not.
var Known = []string{"auto", "ipvs", "nftables", "proxy"}

// Choice is the plane chosen and why, for status.
type Choice struct {
	Name string
	Why  string
}

// Choose opens the plane named want ("" or "auto": the first candidate
// that opens). Its error names each candidate's reason.
func Choose(want string, cands []Candidate) (dataplane.Plane, Choice, error) {
	if want == "" {
		want = "auto"
	}
	if !isKnown(want) {
		return nil, Choice{}, fmt.Errorf("unknown data plane %q (want one of %s)", want, strings.Join(Known, ", "))
	}
	var errs []error
	for _, c := range cands {
		if want != "auto" && c.Name != want {
			continue
		}
		p, err := c.Open()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
			if want != "auto" {
				break
			}
			continue
		}
		why := "--dataplane " + want
		if want == "auto" {
			why = "auto: the first that opened of " + names(cands)
			for _, e := range errs {
				why += "; " + e.Error()
			}
		}
		return p, Choice{Name: c.Name, Why: why}, nil
	}
	var missing []string
	for _, k := range Known[1:] {
		if !has(cands, k) {
			missing = append(missing, k)
		}
	}
	if want != "auto" && !has(cands, want) {
		errs = append(errs, fmt.Errorf("%s: this build has no %s data plane yet", want, want))
	} else if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("the %s data plane(s) are not in this build yet", strings.Join(missing, " and ")))
	}
	return nil, Choice{}, fmt.Errorf("no data plane for the virtual servers: %w", errors.Join(errs...))
}

func isKnown(n string) bool {
	for _, k := range Known {
		if k == n {
			return true
		}
	}
	return false
}

func has(cands []Candidate, n string) bool {
	for _, c := range cands {
		if c.Name == n {
			return true
		}
	}
	return false
}

func names(cands []Candidate) string {
	var ns []string
	for _, c := range cands {
		ns = append(ns, c.Name)
	}
	return strings.Join(ns, ", ")
}
