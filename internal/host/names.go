package host

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// iproute2Dirs are searched, in order, for iproute2's name databases
// (rt_tables, rt_protos, rt_realms, rt_dsfield) and their ".d" directories,
// so that a keepalived.conf naming a table or protocol the way "ip" accepts
// it means the same number here. A variable so tests can point it elsewhere.
var iproute2Dirs = []string{"/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"}

// Names iproute2 knows without any file; the files may add more but the
// built-in meaning of these never changes.
var (
	builtinTables = map[string]uint32{"default": 253, "main": 254, "local": 255}
	// keepalived marks the routes it tracks with protocol 18; the name is in
	// recent rt_protos files but not in older ones.
	builtinProtos = map[string]uint32{
		"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "keepalived": 18,
	}
	builtinDSField = map[string]uint32{"default": 0}
)

// ParseTable resolves a routing table as "ip" does: a number (1 to
// 4294967295), one of main, local and default, or a name from rt_tables.
// Table 0 ("unspec") is not a table a route or rule can name.
func ParseTable(s string) (uint32, error) {
	v, err := lookupName("rt_tables", builtinTables, s, 1<<32-1)
	if err != nil {
		return 0, fmt.Errorf("table %q: %w", s, err)
	}
	if v == 0 {
		return 0, fmt.Errorf("table %q: table 0 (unspec) is not a usable table", s)
	}
	return v, nil
}

// ParseProtocol resolves a route protocol: a number 0-255 or a name from
// rt_protos (keepalived, static, boot, ...).
func ParseProtocol(s string) (uint8, error) {
	v, err := lookupName("rt_protos", builtinProtos, s, 255)
	if err != nil {
		return 0, fmt.Errorf("protocol %q: %w", s, err)
	}
	return uint8(v), nil
}

// ParseDSField resolves a TOS / DS field value: a number 0-255 (decimal or
// 0x hex) or a name from rt_dsfield (AF11, CS1, ...).
func ParseDSField(s string) (uint8, error) {
	v, err := lookupName("rt_dsfield", builtinDSField, s, 255)
	if err != nil {
		return 0, fmt.Errorf("tos %q: %w", s, err)
	}
	return uint8(v), nil
}

// ParseRealms resolves "realms [FROM/]TO", each a number 0-65535 or a name
// from rt_realms, into the kernel's 32-bit value (FROM in the upper half).
func ParseRealms(s string) (uint32, error) {
	from, to, two := strings.Cut(s, "/")
	if !two {
		from, to = "", s
	}
	var f uint32
	if two {
		v, err := lookupName("rt_realms", nil, from, 65535)
		if err != nil {
			return 0, fmt.Errorf("realms %q: %w", s, err)
		}
		f = v
	}
	t, err := lookupName("rt_realms", nil, to, 65535)
	if err != nil {
		return 0, fmt.Errorf("realms %q: %w", s, err)
	}
	return f<<16 | t, nil
}

// lookupName returns the number for s: s itself when numeric (decimal or
// 0x hex), else a built-in name, else the first match in the database files.
func lookupName(db string, builtin map[string]uint32, s string, max uint64) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty value")
	}
	if n, err := strconv.ParseUint(s, 0, 64); err == nil {
		if n > max {
			return 0, fmt.Errorf("out of range (0-%d)", max)
		}
		return uint32(n), nil
	}
	if v, ok := builtin[s]; ok {
		return v, nil
	}
	for _, f := range dbFiles(db) {
		v, ok, err := scanNameFile(f, s)
		if err != nil {
			return 0, err
		}
		if ok {
			if uint64(v) > max {
				return 0, fmt.Errorf("%s maps it to %d, out of range (0-%d)", f, v, max)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("not a number and not a name in %s", db)
}

// dbFiles lists the files of database db: the main file then its .d/*.conf
// drop-ins, for each directory.
func dbFiles(db string) []string {
	var out []string
	for _, d := range iproute2Dirs {
		out = append(out, filepath.Join(d, db))
		more, _ := filepath.Glob(filepath.Join(d, db+".d", "*.conf"))
		slices.Sort(more)
		out = append(out, more...)
	}
	return out
}

// scanNameFile looks name up in one "NUMBER NAME" file; a missing file is
// no match. Comments (#) and malformed lines are skipped, as iproute2 does.
func scanNameFile(path, name string) (uint32, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[1] != name {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 0, 32)
		if err != nil {
			continue
		}
		return uint32(n), true, nil
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, false, nil
}
