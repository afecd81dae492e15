package main

import (
	"fmt"
	"io"

	"vigil/internal/config"
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
