package main

import (
	"fmt"
	"io"

	"vigil/internal/config"
	"vigil/internal/status"
)

// tolerableHint tells a `vigil -t` user when every error of the file is one
// the daemon runs past (unknown keywords, as keepalived): the file is still
// rejected here, as keepalived -t rejects it, but a daemon started on it
// runs without those lines, which is worth knowing before a restart.
func tolerableHint(w io.Writer, diags config.Diagnostics) {
	t := len(diags.Tolerated())
	if t == 0 || t != len(diags.Errors()) {
		return
	}
	fmt.Fprintf(w, "vigil: the daemon would start on this file without the %d line(s) above marked as errors, as keepalived does (--strict or global_defs vigil_strict refuses them)\n", t)
}

// configNote tells the reader of `vigil status` (on stderr, so the table
// stays a table for scripts) that the running configuration carries errors
// the daemon ran past: lines of the file that are not in effect.
func configNote(w io.Writer, st status.StatusJSON) {
	if st.Config == nil || st.Config.ToleratedErrors == 0 {
		return
	}
	fmt.Fprintf(w, "vigil status: %s: %d line(s) with errors are not in effect (run past, as keepalived does); vigil status --json lists them\n",
		st.Config.File, st.Config.ToleratedErrors)
}
