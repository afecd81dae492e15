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
func Load(path string, opts LoadOptions) (*Config, Diagnostics) {
	nodes, files, diags := ReadFile(path, opts.ReadOptions)
	return finishLoad(nodes, files, diags, opts)
}

// LoadBytes is Load for in-memory text; name is used in positions.
func LoadBytes(name string, data []byte, opts LoadOptions) (*Config, Diagnostics) {
	nodes, files, diags := ReadBytes(name, data, opts.ReadOptions)
	return finishLoad(nodes, files, diags, opts)
}

// finishLoad parses what the front end read; problems of both stages are
// reported together, in file and line order.
func finishLoad(nodes []*Node, files []string, readDiags Diagnostics, opts LoadOptions) (*Config, Diagnostics) {
	cfg, diags := Parse(nodes, opts)
	cfg.Files = files
	all := append(append(Diagnostics(nil), readDiags...), diags...)
	all.Sort()
	return cfg, all
}
