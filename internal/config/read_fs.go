package config

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// readFS is the little of a file system the reader needs, so tests can use
// an fs.FS and the daemon the OS.
type readFS interface {
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

// readOSFS reads the OS file system with paths as given.
type readOSFS struct{}

func (readOSFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (readOSFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (readOSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// readIOFS adapts an fs.FS. Absolute names are taken relative to its root,
// so a test can mount "/etc/keepalived/keepalived.conf" as
// "etc/keepalived/keepalived.conf".
type readIOFS struct{ fsys fs.FS }

func (f readIOFS) name(n string) (string, error) {
	n = strings.TrimLeft(path.Clean(n), "/")
	if n == "" {
		n = "."
	}
	if !fs.ValidPath(n) {
		return "", &fs.PathError{Op: "open", Path: n, Err: fs.ErrInvalid}
	}
	return n, nil
}

func (f readIOFS) ReadFile(name string) ([]byte, error) {
	n, err := f.name(name)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(f.fsys, n)
}

func (f readIOFS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.name(name)
	if err != nil {
		return nil, err
	}
	return fs.Stat(f.fsys, n)
}

func (f readIOFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.name(name)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(f.fsys, n)
}

// readHasMeta reports whether a glob pattern has a wildcard.
func readHasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// errReadTooManyAlternatives bounds brace expansion.
var errReadTooManyAlternatives = errors.New("too many {a,b} alternatives")

// readExpandBraces expands csh-style braces as glob(3) with GLOB_BRACE
// does: "a{b,c{d,e}}f" gives abf, acdf, acef, in that order. An unmatched
// '{' is literal; '\' escapes a brace.
func readExpandBraces(p string, limit int) ([]string, error) {
	open := -1
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' {
			i++
			continue
		}
		if p[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return []string{p}, nil
	}
	depth, last := 0, open+1
	var alts []string
	closeAt := -1
scan:
	for i := open + 1; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth == 0 {
				alts = append(alts, p[last:i])
				closeAt = i
				break scan
			}
			depth--
		case ',':
			if depth == 0 {
				alts = append(alts, p[last:i])
				last = i + 1
			}
		}
	}
	if closeAt < 0 {
		return []string{p}, nil // unmatched: literal
	}
	var out []string
	for _, a := range alts {
		sub, err := readExpandBraces(p[:open]+a+p[closeAt+1:], limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
		if len(out) > limit {
			return nil, errReadTooManyAlternatives
		}
	}
	return out, nil
}

// readGlob lists the paths matching one brace-free pattern, like glob(3):
// sorted, '*' and '?' not matching a leading '.', "[!x]" negation. wild is
// set when the pattern had a wildcard; missing when a literal path or a
// directory the pattern walks through does not exist.
func readGlob(fsys readFS, pattern string) (matches []string, wild, missing bool, err error) {
	if !readHasMeta(pattern) {
		if _, err := fsys.Stat(pattern); err != nil {
			return nil, false, true, nil
		}
		return []string{pattern}, false, false, nil
	}
	wild = true
	var cands []string
	rest := pattern
	if strings.HasPrefix(rest, "/") {
		cands = []string{"/"}
		rest = strings.TrimLeft(rest, "/")
	} else {
		cands = []string{""}
	}
	segs := strings.Split(rest, "/")
	for si, seg := range segs {
		if seg == "" {
			continue
		}
		lastSeg := si == len(segs)-1
		var next []string
		if !readHasMeta(seg) {
			for _, c := range cands {
				next = append(next, filepath.Join(c, seg))
			}
		} else {
			goSeg := strings.ReplaceAll(seg, "[!", "[^")
			if _, err := filepath.Match(goSeg, ""); err != nil {
				return nil, wild, false, err
			}
			for _, c := range cands {
				dir := c
				if dir == "" {
					dir = "."
				}
				ents, err := fsys.ReadDir(dir)
				if err != nil {
					missing = true
					continue
				}
				for _, e := range ents {
					n := e.Name()
					if strings.HasPrefix(n, ".") && !strings.HasPrefix(seg, ".") {
						continue
					}
					if ok, _ := filepath.Match(goSeg, n); !ok {
						continue
					}
					full := filepath.Join(c, n)
					if !lastSeg {
						// Only directories lead further down.
						if st, err := fsys.Stat(full); err != nil || !st.IsDir() {
							continue
						}
					}
					next = append(next, full)
				}
			}
		}
		if !readHasMeta(seg) {
			// A literal component must exist to go on (or to be a match).
			kept := next[:0]
			for _, n := range next {
				if _, err := fsys.Stat(n); err == nil {
					kept = append(kept, n)
				} else {
					missing = true
				}
			}
			next = kept
		}
		cands = next
		if len(cands) == 0 {
			break
		}
	}
	sort.Strings(cands)
	return cands, wild, missing, nil
}
