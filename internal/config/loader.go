package config

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Loader loads one configuration file again and again (the start, then
// every reload) and parses again only the top-level blocks whose text
// changed. A reload that changes one real server among 5,000 virtual
// servers then parses one virtual_server block; the others are the very
// values of the previous load (the same pointers), which is also how the
// LVS side tells, by identity, what did not change.
//
// What is reused: the result of parsing one virtual_server block of the
// main file (its *VirtualServer, or none when the block was rejected, and
// the diagnostics its parse reported), keyed by the block's first line and
// a hash of its text. A block qualifies only when nothing but its own text
// can shape that result:
//   - it starts at a line of its own, "virtual_server ... {", and ends at a
//     line that is "}" alone; every '{' ends a line after a keyword, every
//     '}' stands alone, and blocks nest at most 32 deep (so the reader
//     reports nothing about it);
//   - it holds no byte of the preprocessor or of quoting (dollar, tilde,
//     double and single quotes, backslash), no "@" line and no include
//     line, so no definition, config id or included file reaches it;
//   - it is not a group's virtual server (validation, after the parse,
//     changes those by their group);
//   - the line after it (past blank and comment lines), if any, is a plain
//     keyword line (no definition, "@" line, include or brace first),
//     which the reader takes as the next top-level line;
//   - the reader reaches it at the top level of the main file, with no
//     multi-line definition being collected, and when it was parsed the
//     reader made of it exactly one top-level node, from its first line to
//     its last.
//
// Everything else is read and parsed as Load does, and the checks that
// need the whole file (validation, duplicates, references) run on every
// load. A load with options a Loader cannot compare (FS, Getenv, Random)
// or a file that includes others is a full parse, and keeps nothing.
//
// The cache holds a key (24 bytes) and an entry (the pointer, and the
// block's diagnostics, usually none) per block of the last load, about
// 100 bytes a block with the map's overhead: 0.5 MB for 5,000 virtual
// servers. It keeps no text: the values it points to are the running
// configuration's.
//
// A Loader is safe for concurrent use; loads are serialized.
type Loader struct {
	mu     sync.Mutex
	key    loaderKey
	blocks map[blockKey]*blockResult
	stats  LoaderStats
	// loads counts the loads (blockResult.load): a load keeps the
	// results it used or made, in place, and drops the others.
	loads uint64
}

// LoaderStats counts the blocks of the last load.
type LoaderStats struct {
	// Blocks is the number of virtual_server blocks that qualify for
	// reuse; Reused those taken from the previous load, Parsed those
	// parsed (and kept for the next).
	Blocks, Reused, Parsed int
	// Full tells that the load parsed everything and kept nothing (see
	// Loader).
	Full bool
}

// loaderKey is what a cached result depends on besides the block's text
// and line.
type loaderKey struct {
	path            string
	configID        string
	includeCheckAll bool
	limits          readLimits
}

// blockKey identifies a block: its first line, its length and a hash of
// its text. (A 64-bit hash: two different blocks of the same length at the
// same line would have to collide, about one chance in 2^64 per reload.)
type blockKey struct {
	line, size int
	sum        uint64
}

// blockResult is what parsing one block added to the configuration.
type blockResult struct {
	vs    *VirtualServer // nil: the block was rejected
	diags Diagnostics
	load  uint64 // the last load that used or made it
}

// blockSeed hashes block texts; one per process, as the cache is.
var blockSeed = maphash.MakeSeed()

// Stats returns the counts of the last load.
func (l *Loader) Stats() LoaderStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Load is config.Load, reusing the blocks of the previous load that did
// not change.
func (l *Loader) Load(path string, opts LoadOptions) (*Config, Diagnostics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if opts.FS != nil || opts.Getenv != nil || opts.Random != nil {
		l.blocks, l.stats = nil, LoaderStats{Full: true}
		return Load(path, opts)
	}
	key := loaderKey{path: path, configID: opts.ConfigID, includeCheckAll: opts.IncludeCheckAll, limits: readDefaultLimits}
	if opts.limits != nil {
		key.limits = *opts.limits
	}
	if key != l.key {
		l.key, l.blocks = key, nil
	}
	r := newReader(opts.ReadOptions)
	data, err := r.fsys.ReadFile(path)
	if err != nil {
		l.blocks, l.stats = nil, LoaderStats{Full: true}
		return Load(path, opts) // reports it as Load does
	}
	text := readOwned(data)
	w := newTopWalker()
	spans := scanBlocks(text, r.lim, len(l.blocks))
	l.loads++
	if l.blocks == nil {
		l.blocks = make(map[blockKey]*blockResult, len(spans))
	}
	bw := &blockWalker{w: w, main: path, spans: spans, blocks: l.blocks, load: l.loads}
	r.tree.top = bw.walk
	r.skip = bw
	_, files, readDiags := r.read(path, text)
	cfg, diags := finishLoad(w, files, readDiags, opts)
	l.stats = LoaderStats{Blocks: len(spans), Reused: bw.reused, Parsed: bw.parsed}
	if len(files) > 1 {
		// Included files are read afresh each time: keep nothing, so
		// that no reuse ever depends on reasoning about them.
		l.blocks, l.stats.Full = nil, true
		return cfg, diags
	}
	for k, res := range l.blocks {
		if res.load != l.loads {
			delete(l.blocks, k)
		}
	}
	return cfg, diags
}

// span is one top-level virtual_server block of the main file that
// qualifies for reuse (see Loader).
type span struct {
	start, end int // first and last line
	off, next  int // byte offsets of its first line and of the line after
	key        blockKey
}

// scanBlocks finds the blocks of text that qualify for reuse, in order;
// hint is how many there may be (the last load's count).
// It tracks the depth of braces as the reader would for a file without
// quotes; where it cannot (quotes, escapes), it may miss a block or offer
// one the reader does not reach at the top level, which the reader then
// does not take (reader.trySkip).
func scanBlocks(text string, lim readLimits, hint int) []span {
	if len(text) > lim.bytes/4 || strings.Count(text, "\n") > lim.lines/4 {
		return nil // near the limits, which skipping would move
	}
	out := make([]span, 0, hint)
	depth := 0
	cur := -1    // index in out of the block being scanned
	follow := -1 // index in out of the block just closed, until the next line that says something
	ok := false
	line := 0
	for off := 0; off < len(text); {
		l := scanLine(text, off, lim)
		line++
		s := text[l.first:l.last]
		switch {
		case cur >= 0:
			// Inside a block that may qualify.
			switch {
			case !l.clean || s != "" && s[0] == '@' || strings.HasPrefix(s, "include"):
				ok = false
			case s == "}", l.opens == 0 && l.closes == 0:
			case l.opener():
				ok = ok && depth < 32
			default:
				ok = false
			}
			depth += l.opens - l.closes
			if depth > 0 {
				break
			}
			if ok && depth == 0 {
				sp := &out[cur]
				sp.end, sp.next = line, l.next
				sp.key = blockKey{line: sp.start, size: l.next - sp.off, sum: maphash.String(blockSeed, text[sp.off:l.next])}
				follow = cur
			} else {
				out = out[:cur]
			}
			cur, depth = -1, 0
		case s == "":
			// Blank or comment: says nothing.
		default:
			if follow >= 0 && !(l.clean && scanKeywordStart(s[0]) && !strings.HasPrefix(s, "include")) {
				// The line after a block must be a plain keyword line:
				// a '{' would go to the block (the reader gives it to
				// the line before, which a definition, an "@" line or
				// an include in between would not change).
				out = out[:follow]
			}
			follow = -1
			if depth == 0 && l.clean && l.opener() && strings.HasPrefix(s, "virtual_server") && len(s) > 15 &&
				lexIsBlank(s[14]) && !strings.Contains(s, "group") {
				out = append(out, span{start: line, off: off})
				cur, depth, ok = len(out)-1, 1, true
				break
			}
			depth = max(0, depth+l.opens-l.closes)
		}
		off = l.next
	}
	if cur >= 0 {
		out = out[:cur] // never closed
	}
	return out
}

// scanKeywordStart tells a byte a keyword may start with.
func scanKeywordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// scannedLine is one line as scanBlocks sees it.
type scannedLine struct {
	// first and last delimit what the line says: blanks trimmed, the
	// comment cut, as lexDecomment for a line without quotes or escapes.
	first, last int
	// next is where the next line starts.
	next int
	// opens and closes count the braces before the comment; inner
	// tells a '{' that does not end what the line says.
	opens, closes int
	inner         bool
	// clean: nothing that could make a block depend on more than its
	// text (see Loader), and not longer than the reader takes.
	clean bool
}

// opener tells a line that opens a block after a keyword, and only that.
func (l scannedLine) opener() bool {
	return l.opens == 1 && l.closes == 0 && !l.inner && l.last-l.first > 1
}

// Byte classes of scanLine; 0 for the bytes that only say something.
const (
	scanBlank = 1 + iota
	scanOpen
	scanClose
	scanComment
	scanUnclean
	scanNewline
)

// scanClass classifies every byte for scanLine.
var scanClass = func() (t [256]uint8) {
	t[' '], t['\t'] = scanBlank, scanBlank
	t['{'], t['}'] = scanOpen, scanClose
	t['#'], t['!'] = scanComment, scanComment
	for _, c := range []byte{'$', '~', '"', '\'', '\\'} {
		t[c] = scanUnclean
	}
	t['\n'] = scanNewline
	return t
}()

// scanLine reads the line of text at off in one pass over its bytes.
// Control characters other than the newline are no concern: the reader
// and the lexer treat them the same whichever way the block is read.
func scanLine(text string, off int, lim readLimits) scannedLine {
	l := scannedLine{first: -1, clean: true}
	cut := false
	i := off
loop:
	for ; i < len(text); i++ {
		switch scanClass[text[i]] {
		case 0:
		case scanBlank:
			continue
		case scanNewline:
			break loop
		case scanOpen:
			if !cut {
				l.opens++
			}
		case scanClose:
			if !cut {
				l.closes++
			}
		case scanComment:
			cut = true
		case scanUnclean:
			l.clean = false
		}
		if !cut {
			if l.first < 0 {
				l.first = i
			}
			l.last = i + 1
		}
	}
	l.next = i
	if i < len(text) {
		l.next = i + 1
	}
	if l.first < 0 {
		l.first, l.last = off, off
	}
	if i-off > lim.lineLen {
		l.clean = false
	}
	l.inner = l.opens > 0 && text[l.last-1] != '{'
	return l
}

// blockWalker parses the top-level nodes the reader hands over, keeping
// the results of qualifying blocks, and gives the reader the blocks whose
// results it already has (known, use).
type blockWalker struct {
	w     *topWalker
	main  string
	spans []span
	// iWalk and iSkip are the next spans walk and known may reach
	// (each sees lines in order, walk later than known).
	iWalk, iSkip int
	// blocks are the results kept, of earlier loads and of this one
	// (load): only an earlier load's are reused.
	blocks map[blockKey]*blockResult
	load   uint64
	// reused and parsed count the blocks taken and made.
	reused, parsed int
}

// spanAt returns the span that starts at line of the main file, if any,
// moving *i past those before it (the lines asked only grow).
func (b *blockWalker) spanAt(i *int, line int) *span {
	for *i < len(b.spans) && b.spans[*i].start < line {
		*i++
	}
	if *i < len(b.spans) && b.spans[*i].start == line {
		return &b.spans[*i]
	}
	return nil
}

// walk parses one top-level node; a qualifying block's result is kept.
func (b *blockWalker) walk(n *Node) {
	var sp *span
	if n.Pos.File == b.main && n.Name == "virtual_server" && n.HasBlock {
		sp = b.spanAt(&b.iWalk, n.Pos.Line)
	}
	if sp == nil || n.EndPos.File != b.main || n.EndPos.Line != sp.end {
		b.w.walk(n)
		return
	}
	p := b.w.p
	nv, nd := len(p.cfg.VirtualServers), len(p.diags)
	b.w.walk(n)
	res := &blockResult{}
	switch len(p.cfg.VirtualServers) - nv {
	case 0:
	case 1:
		res.vs = p.cfg.VirtualServers[nv]
		if res.vs.Group != "" {
			return
		}
	default:
		return
	}
	if len(p.diags) > nd {
		res.diags = append(Diagnostics(nil), p.diags[nd:]...)
	}
	res.load = b.load
	b.blocks[sp.key] = res
	b.parsed++
}

// known is asked by the reader, at the top level of the main file and
// about to read line (at byte off): whether a block whose result is known
// starts there.
func (b *blockWalker) known(line, off int) (*span, *blockResult) {
	sp := b.spanAt(&b.iSkip, line)
	if sp == nil || sp.off != off {
		return nil, nil
	}
	res := b.blocks[sp.key]
	if res == nil || res.load == b.load {
		return nil, nil
	}
	return sp, res
}

// use puts a known block's result into the configuration, where parsing
// the block would have put it.
func (b *blockWalker) use(sp *span, res *blockResult) {
	p := b.w.p
	if res.vs != nil {
		p.cfg.VirtualServers = append(p.cfg.VirtualServers, res.vs)
	}
	p.diags = append(p.diags, res.diags...)
	res.load = b.load
	b.reused++
}
