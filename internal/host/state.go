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

// stateFile is the JSON document kept on disk.
type stateFile struct {
	Version   int       `json:"version"`
	Addresses []Address `json:"addresses"`
}

// readState returns the addresses recorded in path; a missing file is an
// empty state.
func readState(path string) ([]Address, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host: read state: %w", err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("host: state file %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("host: state file %s: unsupported version %d", path, s.Version)
	}
	for i, a := range s.Addresses {
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("host: state file %s: entry %d: %w", path, i, err)
		}
	}
	return s.Addresses, nil
}

// writeState replaces path atomically: a reader (or a crash) sees either the
// old or the new content, never a torn file.
func writeState(path string, addrs []Address) error {
	if addrs == nil {
		addrs = []Address{}
	}
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Addresses: addrs}, "", "  ")
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
