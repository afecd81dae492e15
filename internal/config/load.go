package config

// LoadOptions control loading.
type LoadOptions struct {
	ReadOptions
	// HostChecks turns on warnings about facts of this host (interfaces
	// that do not exist here). Off by default, so a file can be checked on
	// a machine other than the one it is meant for.
	HostChecks bool
}

// Load reads, parses and validates path. The Config is non-nil even when
// diags has errors (best effort), but callers must not act on it then.
//
// Each top-level line (with its block) is parsed as soon as it has been
// read, and the reader then reuses the memory of its nodes for the next
// one: the same result as ReadFile then Parse, without the whole file's
// tree in memory at once (docs/BENCHMARKS.md).
func Load(path string, opts LoadOptions) (*Config, Diagnostics) {
	w := newTopWalker()
	_, files, diags := readFileTo(path, opts.ReadOptions, w.walk)
	return finishLoad(w, files, diags, opts)
}

// LoadBytes is Load for in-memory text; name is used in positions.
func LoadBytes(name string, data []byte, opts LoadOptions) (*Config, Diagnostics) {
	w := newTopWalker()
	_, files, diags := readBytesTo(name, data, opts.ReadOptions, w.walk)
	return finishLoad(w, files, diags, opts)
}

// finishLoad ends the parse of what the front end read; problems of both
// stages are reported together, in file and line order.
func finishLoad(w *topWalker, files []string, readDiags Diagnostics, opts LoadOptions) (*Config, Diagnostics) {
	cfg, diags := w.p.end(opts)
	cfg.Files = files
	all := append(append(Diagnostics(nil), readDiags...), diags...)
	all.Sort()
	return cfg, all
}
