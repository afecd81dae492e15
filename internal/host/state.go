package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateVersion is bumped when the file format changes incompatibly.
const stateVersion = 1

// stateFile is the JSON document kept on disk. The lists other than
// Addresses were added later without a version bump: a file without them
// reads as before, and an older reader would ignore them.
type stateFile struct {
	Version   int       `json:"version"`
	Addresses []Address `json:"addresses"`
	Routes    []Route   `json:"routes,omitempty"`
	Rules     []Rule    `json:"rules,omitempty"`
	VMACs     []VMAC    `json:"vmacs,omitempty"`
	// BaseConf holds the ARP settings of interfaces carrying VMACs as they
	// were before Vigil changed them, to be put back.
	BaseConf []baseConf `json:"base_conf,omitempty"`
}

// readState returns what is recorded in path; a missing file is an empty
// state.
func readState(path string) (stateFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return stateFile{Version: stateVersion}, nil
	}
	if err != nil {
		return stateFile{}, fmt.Errorf("host: read state: %w", err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return stateFile{}, fmt.Errorf("host: state file %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return stateFile{}, fmt.Errorf("host: state file %s: unsupported version %d", path, s.Version)
	}
	bad := func(kind string, i int, err error) error {
		return fmt.Errorf("host: state file %s: %s entry %d: %w", path, kind, i, err)
	}
	for i, a := range s.Addresses {
		if err := a.Validate(); err != nil {
			return stateFile{}, bad("address", i, err)
		}
	}
	for i, r := range s.Routes {
		if err := r.Validate(); err != nil {
			return stateFile{}, bad("route", i, err)
		}
	}
	for i, r := range s.Rules {
		if err := r.Validate(); err != nil {
			return stateFile{}, bad("rule", i, err)
		}
	}
	for i, v := range s.VMACs {
		if err := v.Validate(); err != nil {
			return stateFile{}, bad("vmac", i, err)
		}
	}
	for i, c := range s.BaseConf {
		if err := c.validate(); err != nil {
			return stateFile{}, bad("base_conf", i, err)
		}
	}
	return s, nil
}

// writeState replaces path atomically: a reader (or a crash) sees either the
// old or the new content, never a torn file.
func writeState(path string, s stateFile) error {
	if s.Addresses == nil {
		s.Addresses = []Address{}
	}
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("host: encode state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("host: state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("host: write state: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("host: write state: %w", werr)
	}
	// Make the rename itself durable; failure here only weakens crash
	// safety, the new state is already in place.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
