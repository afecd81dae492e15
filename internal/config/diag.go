package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pos is a position in a configuration file. Line is 1-based. An empty File
// means the position is unknown (for example a problem with the whole model).
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// String formats the position as "file:line", the form editors and grep understand.
func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Severity tells whether a diagnostic makes the configuration unusable.
type Severity int

const (
	// Error makes the configuration invalid: Vigil refuses to run it.
	Error Severity = iota
	// Warning is reported but the configuration is still used: a keyword
	// parsed but not acted on yet, or a fact about this host (a missing
	// interface) that may hold on the machine the config is meant for.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a configuration, tied to where it is.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Msg      string   `json:"msg"`
	// Tolerable marks an error keepalived runs past (it logs the line and
	// starts without it): `-t` still rejects the file, but the daemon may
	// start on it unless asked to be strict (Diagnostics.StartErr). Only
	// mistakes whose omission leaves a model that means what the rest of
	// the file says are tolerable; see docs/OPERATIONS.md.
	Tolerable bool `json:"tolerable,omitempty"`
}

// String formats the diagnostic as "file:line: severity: message".
func (d Diagnostic) String() string {
	return d.Pos.String() + ": " + d.Severity.String() + ": " + d.Msg
}

// Diagnostics is an ordered list of problems. Parsing collects all of them
// rather than stopping at the first, so an operator fixes a file in one pass.
type Diagnostics []Diagnostic

// Errorf appends an error at pos.
func (ds *Diagnostics) Errorf(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

// Warnf appends a warning at pos.
func (ds *Diagnostics) Warnf(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Severity: Warning, Msg: fmt.Sprintf(format, args...)})
}

// Tolerablef appends an error at pos that a daemon may run past (see
// Diagnostic.Tolerable).
func (ds *Diagnostics) Tolerablef(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, args...), Tolerable: true})
}

// HasErrors reports whether any diagnostic is an Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, then line, keeping the order of
// diagnostics on the same line stable.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Pos.File != ds[j].Pos.File {
			return ds[i].Pos.File < ds[j].Pos.File
		}
		return ds[i].Pos.Line < ds[j].Pos.Line
	})
}

// String returns one diagnostic per line.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Err returns the diagnostics as an error if any of them is an Error, else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return &DiagnosticsError{Diags: ds}
}

// Tolerated returns the errors a daemon may run past.
func (ds Diagnostics) Tolerated() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error && d.Tolerable {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Warning {
			out = append(out, d)
		}
	}
	return out
}

// StartErr is Err for a daemon starting or reloading: when strict is
// false, errors keepalived runs past (Tolerable) do not refuse the file, so
// that a node comes up on the configuration the keepalived it replaces ran.
// Any other error refuses it, and then the error lists every error.
func (ds Diagnostics) StartErr(strict bool) error {
	if strict {
		return ds.Err()
	}
	for _, d := range ds {
		if d.Severity == Error && !d.Tolerable {
			return ds.Err()
		}
	}
	return nil
}

// DiagnosticsError carries the diagnostics of an invalid configuration.
type DiagnosticsError struct{ Diags Diagnostics }

// Error lists the errors, one per line.
func (e *DiagnosticsError) Error() string {
	return strings.TrimRight(e.Diags.Errors().String(), "\n")
}
