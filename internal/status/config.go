package status

import (
	"slices"
	"time"
)

// ConfigReport is what the daemon tells status about the configuration it
// runs: the mistakes it ran past and the warnings the file carried, each as
// `vigil -t` prints it ("file:line: severity: message"), so that an
// operator sees them in `vigil status` and a dashboard counts them.
type ConfigReport struct {
	File     string
	LoadedAt time.Time
	// Tolerated are errors the daemon ran past (unknown keywords, as
	// keepalived); `-t` rejects the same file.
	Tolerated []string
	// Warnings are the file's warnings (a keyword not acted on yet, an
	// interface missing on this host).
	Warnings []string
}

// ConfigJSON is the "config" object of GET /status. Field names are stable.
type ConfigJSON struct {
	File            string    `json:"file"`
	LoadedAt        time.Time `json:"loaded_at"`
	ToleratedErrors int       `json:"tolerated_errors"`
	Warnings        int       `json:"warnings"`
	// Diagnostics lists the tolerated errors, then the warnings.
	Diagnostics []string `json:"diagnostics,omitempty"`
}

// SetConfigReport records the running configuration's report; the daemon
// calls it at start and after each reload it applies.
func (h *Hub) SetConfigReport(r ConfigReport) {
	r.Tolerated = slices.Clone(r.Tolerated)
	r.Warnings = slices.Clone(r.Warnings)
	h.mu.Lock()
	h.config = &r
	h.mu.Unlock()
}

// configReport returns the report, nil before the daemon set one.
func (h *Hub) configReport() *ConfigReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.config
}

// JSON converts the report to its JSON form.
func (r *ConfigReport) JSON() *ConfigJSON {
	if r == nil {
		return nil
	}
	return &ConfigJSON{
		File:            r.File,
		LoadedAt:        r.LoadedAt,
		ToleratedErrors: len(r.Tolerated),
		Warnings:        len(r.Warnings),
		Diagnostics:     append(slices.Clone(r.Tolerated), r.Warnings...),
	}
}

// ReloadJSON is the body of a reload the daemon applied (POST /reload, 200):
// the new file's diagnostics and what changed. Field names are stable.
type ReloadJSON struct {
	// Tolerated are errors the daemon ran past in the new file, as
	// `vigil -t` prints them.
	Tolerated []string `json:"tolerated_errors"`
	// Warnings are the new file's warnings, as `vigil -t` prints them.
	Warnings []string `json:"warnings"`
	// Instances says what happened to each VRRP instance, by name.
	Instances ReloadInstances `json:"instances"`
	// Errors are parts of the new configuration that could not be applied
	// (an instance whose socket could not be opened); the rest runs.
	Errors []string `json:"errors,omitempty"`
}

// ReloadInstances names the VRRP instances a reload added, removed,
// changed in place (keeping their state: addresses, priority), restarted,
// or left alone. Virtual servers and checkers will get lists of their own.
type ReloadInstances struct {
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	InPlace   []string `json:"changed_in_place"`
	Restarted []string `json:"restarted"`
	Unchanged []string `json:"unchanged"`
}

// normalized replaces nil lists by empty ones, so that the JSON always
// has every list ([] rather than null) and scripts need no special case.
func (r ReloadJSON) normalized() ReloadJSON {
	for _, l := range []*[]string{&r.Tolerated, &r.Warnings, &r.Instances.Added, &r.Instances.Removed,
		&r.Instances.InPlace, &r.Instances.Restarted, &r.Instances.Unchanged} {
		if *l == nil {
			*l = []string{}
		}
	}
	return r
}
