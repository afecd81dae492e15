package config

import (
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"unsafe"
)

// ReadOptions control reading.
type ReadOptions struct {
	// ConfigID is keepalived's -i/--config-id: it decides "@id" / "@^id"
	// lines and is the value of ${_INSTANCE}. keepalived defaults it to the
	// first part of the host name; that default is the caller's to apply.
	// Empty means no config id: every "@id" line is dropped, every "@^id"
	// line kept.
	ConfigID string
	// Getenv is the environment for environment built-ins. keepalived 2.2.7
	// has none, so it is not consulted yet; nil means os.Getenv.
	Getenv func(string) string
	// FS is where files are read; nil means the OS file system with paths
	// as given. Tests may use fstest.MapFS (absolute paths are then taken
	// relative to its root).
	FS fs.FS
	// IncludeCheckAll is keepalived's -e/--all-config: every include is
	// checked as with "includet" (a missing file, a pattern matching
	// nothing, an unreadable match are errors), as if global_defs began with
	// include_check.
	IncludeCheckAll bool
	// Random returns a uniform value in [0, n) for ${_RANDOM}; nil uses
	// math/rand/v2. Tests set it to get repeatable output.
	Random func(n int64) int64

	limits *readLimits // nil: readDefaultLimits; lowered by the fuzz test
}

// readLimits bound the work one read may do, so no input (a macro defined
// in terms of itself, a huge ~SEQ, deep nesting) can hang the reader or
// exhaust memory. keepalived itself loops forever on "$A=$A".
type readLimits struct {
	includeDepth int // nested include levels
	files        int // files read
	lineLen      int // bytes of one line, before or after replacement
	lines        int // lines handed to the tree
	bytes        int // bytes handed to the tree
	processed    int // lines looked at, including dropped ones
	substs       int // parameter replacements on one line
	passes       int // re-examinations of one line after replacement
	blockDepth   int // nested { } levels
	defLen       int // bytes of one multi-line definition
	sources      int // pending line sources (files, ~SEQ, multi-line values)
	braceAlts    int // alternatives of one include pattern
}

var readDefaultLimits = readLimits{
	includeDepth: 32,
	files:        1000,
	lineLen:      64 << 10,
	lines:        1 << 20,
	bytes:        64 << 20,
	processed:    4 << 20,
	substs:       10000,
	passes:       100,
	blockDepth:   64,
	defLen:       1 << 20,
	sources:      10000,
	braceAlts:    1024,
}

// ReadFile reads path and every file it includes, returns the top-level
// nodes, the list of files read (main first) and every problem found (all
// of them, each with file:line).
func ReadFile(path string, opts ReadOptions) (nodes []*Node, files []string, diags Diagnostics) {
	return readFileTo(path, opts, nil)
}

// readFileTo is ReadFile; with top set, each top-level node is handed to
// top once complete (when the next top-level line arrives, or at the end)
// instead of being returned, and its memory is reused after top returns:
// top must keep nothing of the node (no *Node, no Args or Block slice;
// strings are safe).
func readFileTo(path string, opts ReadOptions, top func(*Node)) (nodes []*Node, files []string, diags Diagnostics) {
	r := newReader(opts)
	r.tree.top = top
	data, err := r.fsys.ReadFile(path)
	if err != nil {
		r.diags.Errorf(Pos{File: path}, "cannot read configuration file: %v", readErrText(err))
		return nil, nil, r.diags
	}
	return r.read(path, readOwned(data))
}

// ReadBytes is ReadFile for in-memory text named name (includes are
// resolved relative to name's dir).
func ReadBytes(name string, data []byte, opts ReadOptions) (nodes []*Node, files []string, diags Diagnostics) {
	return readBytesTo(name, data, opts, nil)
}

// readBytesTo is ReadBytes with readFileTo's top.
func readBytesTo(name string, data []byte, opts ReadOptions, top func(*Node)) (nodes []*Node, files []string, diags Diagnostics) {
	r := newReader(opts)
	r.tree.top = top
	return r.read(name, string(data)) // the caller's bytes: copied
}

// reader is the state of one read: a stack of line sources (files, ~SEQ
// repetitions, the remaining lines of a multi-line parameter, the rest of a
// line after a brace), the parameter definitions, and the tree being built.
type reader struct {
	opts  ReadOptions
	lim   readLimits
	fsys  readFS
	osFS  bool
	diags Diagnostics

	stack []readSource
	files []string
	seen  map[string]bool

	defs         map[string]*ppDef
	multi        *ppDef // multi-line definition being collected
	multiFull    bool   // multi reached lim.defLen
	includeCheck int

	lines, bytes, processed int
	stopped                 bool
	wordSlab                []string // backing of the words of lines (see words)
	quoteSaid               Pos      // last line reported for an open double quote

	tree readTree
	// skip, when set (Loader), gives the results of unchanged blocks
	// of the main file, which are then not read at all.
	skip *blockWalker
}

func newReader(opts ReadOptions) *reader {
	r := &reader{opts: opts, lim: readDefaultLimits, seen: map[string]bool{}, defs: ppBuiltins()}
	if opts.IncludeCheckAll {
		r.includeCheck = ppIncAll
	}
	if opts.limits != nil {
		r.lim = *opts.limits
	}
	if opts.FS == nil {
		r.fsys, r.osFS = readOSFS{}, true
	} else {
		r.fsys = readIOFS{opts.FS}
	}
	r.tree = readTree{diags: &r.diags, maxDepth: r.lim.blockDepth}
	return r
}

// read processes the main file's text and everything it pulls in.
func (r *reader) read(name string, text string) ([]*Node, []string, Diagnostics) {
	r.push(r.newFile(name, text, nil))
	for !r.stopped {
		if r.skip != nil && r.trySkip() {
			continue
		}
		line, pos, raw, ok := r.nextLine()
		if !ok {
			break
		}
		r.processLine(line, pos, raw)
	}
	if r.multi != nil {
		r.endMulti()
	}
	if !r.stopped {
		r.tree.finish()
	}
	r.tree.flush()
	r.tree.handOff()
	return r.tree.root, r.files, r.diags
}

// trySkip passes over a block of the main file whose result the Loader
// has, when the reader is at the top level of that file with nothing
// pending (no rest of a line, no other source, no multi-line definition):
// where reading the block would make one top-level node of it and nothing
// else. The node before it is parsed first, as its first line would do.
func (r *reader) trySkip() bool {
	if len(r.stack) != 1 || r.multi != nil || len(r.tree.levels) != 0 {
		return false
	}
	f, ok := r.stack[0].(*readFileSrc)
	if !ok || f.parent != nil || f.off >= len(f.text) {
		return false
	}
	sp, res := r.skip.known(f.line+1, f.off)
	if sp == nil {
		return false
	}
	r.tree.handOff()
	r.skip.use(sp, res)
	f.off, f.line = sp.next, sp.end
	r.tree.last = nil
	return true
}

// stop reports an error that ends the read (a limit was reached).
func (r *reader) stop(pos Pos, format string, args ...any) {
	r.diags.Errorf(pos, format, args...)
	r.stopped = true
}

// readSource yields lines. raw lines come straight from a file and still
// need their comments removed; others were already cleaned.
type readSource interface {
	next() (line string, pos Pos, raw, ok bool)
	done() bool
}

// readFileSrc is one open configuration file. Its lines are cut from the
// text as they are read, not split up front: a large file would otherwise
// cost a slice of every line before the first is looked at.
type readFileSrc struct {
	name       string // as shown in positions
	key        string // identity for cycle detection
	parent     *readFileSrc
	depth      int
	text       string // the file's text
	off        int    // where the next line starts in text
	line       int    // the number of the last line returned
	savedCheck int    // include_check to restore when the file ends
}

func (f *readFileSrc) next() (string, Pos, bool, bool) {
	if f.off >= len(f.text) {
		return "", Pos{}, false, false
	}
	rest := f.text[f.off:]
	l := rest
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		l = rest[:j]
		f.off += j + 1
	} else {
		f.off = len(f.text)
	}
	for len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	f.line++
	return l, Pos{File: f.name, Line: f.line}, true, true
}

func (f *readFileSrc) done() bool { return f.off >= len(f.text) }

// readLinesSrc yields already-cleaned lines that all belong to one source
// line: the rest of a line after a brace, or the remaining lines of a
// multi-line parameter.
type readLinesSrc struct {
	lines []string
	pos   Pos
	i     int
}

func (s *readLinesSrc) next() (string, Pos, bool, bool) {
	if s.i >= len(s.lines) {
		return "", Pos{}, false, false
	}
	s.i++
	return s.lines[s.i-1], s.pos, false, true
}

func (s *readLinesSrc) done() bool { return s.i >= len(s.lines) }

// readSeqSrc repeats the text of a ~SEQ or ~LST line, setting its
// variables before each repetition.
type readSeqSrc struct {
	r   *reader
	seq *ppSeq
	pos Pos
	i   int64
}

func (s *readSeqSrc) next() (string, Pos, bool, bool) {
	if s.i >= s.seq.count {
		return "", Pos{}, false, false
	}
	for k, v := range s.seq.next(s.i) {
		s.r.defs[s.seq.vars[k]] = &ppDef{value: v}
	}
	s.i++
	return s.seq.text, s.pos, false, true
}

func (s *readSeqSrc) done() bool { return s.i >= s.seq.count }

func (r *reader) push(s readSource) {
	if len(r.stack) >= r.lim.sources {
		r.stop(Pos{}, "more than %d nested line sources (includes, ~SEQ, multi-line parameters)", r.lim.sources)
		return
	}
	r.stack = append(r.stack, s)
}

func (r *reader) pop() {
	top := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	if f, ok := top.(*readFileSrc); ok {
		r.includeCheck = f.savedCheck
	}
}

// nextLine returns the next line from the top source. Exhausted sources
// other than files are dropped at once so a parameter that keeps expanding
// itself does not pile them up; a file stays current until its last line
// has been processed, as relative includes on that line need its directory.
func (r *reader) nextLine() (string, Pos, bool, bool) {
	for len(r.stack) > 0 {
		top := r.stack[len(r.stack)-1]
		line, pos, raw, ok := top.next()
		if !ok {
			r.pop()
			continue
		}
		if _, isFile := top.(*readFileSrc); !isFile && top.done() {
			r.pop()
		}
		return line, pos, raw, true
	}
	return "", Pos{}, false, false
}

// currentFile is the file being read (the top-most file source).
func (r *reader) currentFile() *readFileSrc {
	for i := len(r.stack) - 1; i >= 0; i-- {
		if f, ok := r.stack[i].(*readFileSrc); ok {
			return f
		}
	}
	return nil
}

// currentDir is the directory of the current file; abs makes it absolute
// on the OS file system, as keepalived's ${_PWD} (its working directory).
func (r *reader) currentDir(abs bool) string {
	f := r.currentFile()
	if f == nil {
		return "."
	}
	dir := filepath.Dir(f.name)
	if abs && r.osFS {
		if a, err := filepath.Abs(dir); err == nil {
			return a
		}
	}
	return dir
}

// newFile makes a source for a file's text and records the file.
func (r *reader) newFile(name string, text string, parent *readFileSrc) *readFileSrc {
	f := &readFileSrc{name: name, key: r.fileKey(name), parent: parent, text: text, savedCheck: r.includeCheck}
	if parent != nil {
		f.depth = parent.depth + 1
	}
	if !r.seen[f.key] {
		r.seen[f.key] = true
		r.files = append(r.files, name)
	}
	return f
}

// fileKey identifies a file for cycle detection.
func (r *reader) fileKey(name string) string {
	if r.osFS {
		if a, err := filepath.Abs(name); err == nil {
			return a
		}
	}
	return strings.TrimLeft(filepath.Clean(name), "/")
}

// random draws for ${_RANDOM}.
func (r *reader) random(n int64) int64 {
	if r.opts.Random == nil {
		return rand.Int64N(n)
	}
	v := r.opts.Random(n) % n
	if v < 0 {
		v += n
	}
	return v
}

// processLine takes one line through keepalived's steps: comments, the
// multi-line definition being collected, "@id", "$NAME=", ~SEQ/~LST,
// parameter replacement, include, and the split at braces. What follows a
// brace is processed next, as a line of its own, before anything else is
// read (keepalived reads it as the next line).
func (r *reader) processLine(line string, pos Pos, raw bool) {
	for {
		rest := r.processOne(line, pos, raw)
		if rest == "" || r.stopped {
			return
		}
		line, raw = rest, false
	}
}

// processOne is processLine for the text up to the first brace; it returns
// the text from the brace on, "" when there is none.
func (r *reader) processOne(line string, pos Pos, raw bool) (rest string) {
	r.processed++
	if r.processed > r.lim.processed {
		r.stop(pos, "more than %d lines to process: is a ~SEQ or parameter repeating without end?", r.lim.processed)
		return
	}
	if raw {
		if line == "" {
			// Only a truly empty line ends a multi-line definition;
			// comment lines inside one do not.
			if r.multi != nil {
				r.endMulti()
			}
			return
		}
		if len(line) > r.lim.lineLen {
			r.diags.Errorf(pos, "line is longer than %d bytes; ignored", r.lim.lineLen)
			return
		}
		var open bool
		line, open = lexDecomment(line)
		if open {
			r.diags.Errorf(pos, "unterminated double quote")
			r.quoteSaid = pos
		}
		if line == "" {
			return
		}
	}
	if r.multi != nil {
		r.collectMulti(line, pos)
		return
	}
	text := line
	for pass := 0; ; pass++ {
		if pass >= r.lim.passes {
			r.diags.Errorf(pos, "parameters still change after %d replacement passes: is a parameter defined in terms of itself? line ignored", r.lim.passes)
			return
		}
		if text == "" {
			return
		}
		if text[0] == '@' {
			var keep bool
			if text, keep = ppCondition(text, r.opts.ConfigID); !keep || text == "" {
				return
			}
		}
		if name, value, multi, ok := ppParseDefinition(text); ok {
			d := &ppDef{value: value, multiline: multi}
			r.defs[name] = d
			if multi {
				r.multi, r.multiFull = d, false
			}
			return
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			r.startSeq(text, pos)
			return
		}
		if text[0] == '~' || !strings.Contains(text, "$") {
			break
		}
		out, changed, ok := r.substitute(text, pos, true)
		if !ok {
			return
		}
		if !changed {
			break
		}
		// keepalived strips comments again after a replacement.
		text, _ = lexDecomment(out)
		if text == "" || (text[0] != '@' && !strings.Contains(text, "$")) {
			break
		}
	}
	if text == "" {
		return
	}
	if pattern, checks, ok := ppIncludeLine(text); ok {
		r.include(pattern, checks, pos)
		return
	}
	head, rest := lexSplitBrace(text)
	if rest != "" && len(r.stack) >= r.lim.sources {
		// The rest would be one more pending source, over the limit: push
		// reports it and ends the read.
		r.push(&readLinesSrc{lines: []string{rest}, pos: pos})
		rest = ""
	}
	r.emit(head, pos)
	return rest
}

// collectMulti adds a line to the multi-line definition being read.
func (r *reader) collectMulti(line string, pos Pos) {
	d := r.multi
	var add string
	more := strings.HasSuffix(line, `\`)
	if more {
		if t := strings.TrimRight(line[:len(line)-1], " \t"); t != "" {
			add = t + "\n"
		}
	} else {
		add = line
	}
	if len(d.value)+len(add) > r.lim.defLen {
		if !r.multiFull {
			r.diags.Errorf(pos, "multi-line definition is longer than %d bytes; the rest is ignored", r.lim.defLen)
			r.multiFull = true
		}
	} else {
		d.value += add
	}
	if !more {
		r.endMulti()
	}
}

func (r *reader) endMulti() {
	if r.multi.value == "" {
		r.multi.multiline = false
	}
	r.multi = nil
}

// substitute replaces parameter references in s. As in keepalived, the
// text put in is examined again at the same place, so values are expanded
// recursively; limits on the number of replacements and on the length of
// the line turn a parameter defined in terms of itself into an error.
// For a multi-line parameter, its first line replaces the reference and
// its other lines are queued to follow.
func (r *reader) substitute(s string, pos Pos, allowMulti bool) (string, bool, bool) {
	var pending []readSource
	changed := false
	n := 0
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			break
		}
		i += j
		if i+1 >= len(s) {
			break
		}
		ref, found := ppMatchRef(r.defs, s, i, allowMulti)
		if !found {
			i++
			continue
		}
		if n++; n > r.lim.substs {
			r.diags.Errorf(pos, "more than %d parameter replacements in one line: is a parameter defined in terms of itself? line ignored", r.lim.substs)
			return "", false, false
		}
		val := ref.def.value
		if ref.def.builtin != nil {
			val = ref.def.builtin(r, ref.params, pos)
		}
		if ref.def.multiline {
			first, more, _ := strings.Cut(val, "\n")
			val = first
			if more != "" {
				pending = append(pending, &readLinesSrc{lines: strings.Split(more, "\n"), pos: pos})
			}
		}
		s = s[:i] + val + s[ref.end:]
		changed = true
		if len(s) > r.lim.lineLen {
			r.diags.Errorf(pos, "line grows beyond %d bytes while replacing parameters: is a parameter defined in terms of itself? line ignored", r.lim.lineLen)
			return "", false, false
		}
		if strings.HasPrefix(strings.TrimLeft(val, " \t"), "~") {
			break // keepalived stops here so the ~SEQ is seen first
		}
	}
	for _, p := range pending {
		r.push(p)
	}
	return s, changed, true
}

// startSeq queues the repetitions of a ~SEQ or ~LST line.
func (r *reader) startSeq(text string, pos Pos) {
	var seq *ppSeq
	var err error
	kind := text[:4]
	if kind == "~SEQ" {
		seq, err = ppParseSeq(text, func(s string) string {
			out, _, ok := r.substitute(s, pos, false)
			if !ok {
				return s
			}
			return out
		})
	} else {
		seq, err = ppParseList(text)
	}
	if err != nil {
		r.diags.Errorf(pos, "invalid %s: %v", kind, err)
		return
	}
	if seq.count > int64(r.lim.lines) {
		r.diags.Errorf(pos, "%s would repeat its line %d times; the limit is %d", kind, seq.count, r.lim.lines)
		return
	}
	r.push(&readSeqSrc{r: r, seq: seq, pos: pos})
}

// emit hands one final line to the tree.
func (r *reader) emit(line string, pos Pos) {
	r.lines++
	r.bytes += len(line)
	if r.lines > r.lim.lines || r.bytes > r.lim.bytes {
		r.stop(pos, "configuration expands to more than %d lines or %d bytes", r.lim.lines, r.lim.bytes)
		return
	}
	switch line {
	case "{":
		r.tree.open(pos)
		return
	case "}":
		r.tree.close(pos)
		return
	}
	words, err := r.words(line)
	if err != nil && !(err == errLexOpenDouble && pos == r.quoteSaid) {
		r.diags.Errorf(pos, "%v", err)
	}
	if len(words) == 0 {
		return
	}
	if len(r.tree.levels) == 0 && r.tree.pending != nil {
		// A new top-level line: the one before is complete. Once it is
		// parsed its nodes and words are free, and their slabs start over
		// (this line's words moved to the front of theirs).
		r.tree.handOff()
		n := copy(r.wordSlab[:cap(r.wordSlab)], words)
		r.wordSlab = r.wordSlab[:n]
		words = r.wordSlab[:n:n]
	}
	detachWords(words)
	n := r.tree.add(words, pos)
	if n.Name == "include_check" && r.tree.inTopBlock("global_defs") {
		// keepalived applies include_check as soon as it is read, to the
		// includes that follow in this file and the files it includes.
		var problems []string
		r.includeCheck, problems = ppIncludeCheck(r.includeCheck, n.Args)
		for _, p := range problems {
			r.diags.Errorf(pos, "%s", p)
		}
	}
}

// detachWords copies a line's words out of the file's text, all of them
// into one new string: the model keeps some words as they are (names,
// router_id, lb_algo, lb_kind, protocol, paths...), and a substring kept
// keeps the whole text alive (1.1 MB for 10,000 real servers, for as
// long as the configuration runs). One allocation per line, of the
// line's words, which is a few bytes a word kept at most.
func detachWords(words []string) {
	n := 0
	for _, w := range words {
		n += len(w)
	}
	if n == 0 {
		return
	}
	buf := make([]byte, 0, n)
	for _, w := range words {
		buf = append(buf, w...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	off := 0
	for i, w := range words {
		words[i] = all[off : off+len(w)]
		off += len(w)
	}
}

// words splits a line into words (lexWords), taking the slice from a
// shared slab: a file has as many lines as words slices, and one
// allocation per line would be most of the reader's work.
func (r *reader) words(line string) ([]string, error) {
	if cap(r.wordSlab)-len(r.wordSlab) < 16 {
		r.wordSlab = make([]string, 0, 4096)
	}
	start := len(r.wordSlab)
	var err error
	r.wordSlab, err = lexAppendWords(r.wordSlab, line)
	words := r.wordSlab[start:len(r.wordSlab):len(r.wordSlab)]
	if len(words) == 0 {
		words = nil
	}
	return words, err
}

// include handles "include PATTERN" and its variants at pos.
func (r *reader) include(pattern string, checks int, pos Pos) {
	check := r.includeCheck | checks
	cur := r.currentFile()
	pats, err := readExpandBraces(pattern, r.lim.braceAlts)
	if err != nil {
		r.diags.Errorf(pos, "include %s: %v", pattern, err)
		return
	}
	hasBrace := len(pats) > 1 || strings.Contains(pattern, "{")
	var matches []string
	wild, missing := false, false
	for _, p := range pats {
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.currentDir(false), p)
		}
		m, w, miss, err := readGlob(r.fsys, p)
		if err != nil {
			r.diags.Errorf(pos, "include %s: bad pattern: %v", pattern, err)
			return
		}
		matches = append(matches, m...)
		wild, missing = wild || w, missing || miss
	}
	if len(matches) == 0 {
		switch {
		case missing:
			flag := ppIncMatch
			if hasBrace {
				flag = ppIncBrace
			}
			r.report(check&flag != 0, pos, "include %s: no such file", pattern)
		case wild && check&ppIncWildcard != 0:
			r.diags.Errorf(pos, "include %s: no file matches", pattern)
		}
		// A wildcard matching nothing is no problem for keepalived's
		// plain include (an empty conf.d directory).
		return
	}
	if missing {
		r.report(check&ppIncBrace != 0, pos, "include %s: some of the files do not exist", pattern)
		if check&ppIncBrace != 0 {
			return
		}
	}
	var srcs []*readFileSrc
	for _, m := range matches {
		st, err := r.fsys.Stat(m)
		if err != nil {
			r.diags.Errorf(pos, "include %s: cannot read %s: %v", pattern, m, readErrText(err))
			continue
		}
		if st.IsDir() {
			if wild && check&ppIncRead == 0 {
				continue
			}
			r.report(check&ppIncRead != 0, pos, "include %s: %s is a directory; skipped", pattern, m)
			continue
		}
		if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 != 0 {
			r.report(check&ppIncRead != 0, pos, "include %s: %s is not a regular non-executable file; skipped", pattern, m)
			continue
		}
		if chain := r.cycle(cur, m); chain != "" {
			r.diags.Errorf(pos, "include cycle: %s", chain)
			continue
		}
		if cur != nil && cur.depth+1 >= r.lim.includeDepth {
			r.diags.Errorf(pos, "include %s: includes nested more than %d deep", pattern, r.lim.includeDepth)
			continue
		}
		if len(r.files) >= r.lim.files {
			r.stop(pos, "more than %d configuration files", r.lim.files)
			return
		}
		data, err := r.fsys.ReadFile(m)
		if err != nil {
			r.diags.Errorf(pos, "include %s: cannot read %s: %v", pattern, m, readErrText(err))
			continue
		}
		srcs = append(srcs, r.newFile(m, readOwned(data), cur))
	}
	// Pushed last first, so the first match is read first.
	for i := len(srcs) - 1; i >= 0; i-- {
		r.push(srcs[i])
	}
}

// report adds an error or, for checks keepalived does not enforce by
// default, a warning.
func (r *reader) report(isErr bool, pos Pos, format string, args ...any) {
	if isErr {
		r.diags.Errorf(pos, format, args...)
	} else {
		r.diags.Warnf(pos, format, args...)
	}
}

// cycle returns "a -> b -> a" when including name from cur would read a
// file that is already being read, else "".
func (r *reader) cycle(cur *readFileSrc, name string) string {
	key := r.fileKey(name)
	var chain []string
	for f := cur; f != nil; f = f.parent {
		chain = append(chain, f.name)
		if f.key == key {
			for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
				chain[i], chain[j] = chain[j], chain[i]
			}
			return strings.Join(append(chain, name), " -> ")
		}
	}
	return ""
}

// readOwned returns the text of bytes read from a file for this read alone,
// without copying them: nothing else holds or changes them, and the model
// keeps none of the text (detachWords), so a copy would only double the
// memory a large file takes while it is read.
func readOwned(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return unsafe.String(&data[0], len(data))
}

// readErrText shortens file errors to their cause; the path is already in
// the message.
func readErrText(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// readTree builds the Node tree from the final lines. A '{' opens a block
// for the line just before it; a '}' closes the innermost block.
//
// Nodes are allocated in slabs, and the lines of an open block wait on one
// shared stack (kids) until the block closes, when they are copied into a
// slice of the exact size: a file of many small blocks then costs a few
// large allocations instead of several per line.
type readTree struct {
	root     []*Node
	levels   []readLevel
	last     *Node // the line a '{' would open a block for
	diags    *Diagnostics
	maxDepth int
	deepSaid bool

	kids     []*Node // lines of the open blocks, innermost last
	nodeSlab []Node
	kidSlab  []*Node

	// top, when set, takes each complete top-level node instead of root
	// (see readFileTo); pending is the top-level node not handed over yet.
	top     func(*Node)
	pending *Node
}

// handOff gives the pending top-level node to top, then lets the node and
// block slabs start over: nothing of that node is referenced any more.
func (t *readTree) handOff() {
	if t.pending == nil {
		return
	}
	n := t.pending
	t.pending, t.last = nil, nil
	t.top(n)
	clear(t.nodeSlab)
	t.nodeSlab = t.nodeSlab[:0]
	clear(t.kidSlab)
	t.kidSlab = t.kidSlab[:0]
}

// readLevel is one open block. discard is set for a '{' that had no line
// to attach to (its lines are dropped after the error) and inside one.
// start is where the block's lines begin in kids.
type readLevel struct {
	node    *Node
	discard bool
	pos     Pos
	start   int
}

func (t *readTree) add(words []string, pos Pos) *Node {
	if len(t.nodeSlab) == cap(t.nodeSlab) {
		t.nodeSlab = make([]Node, 0, 1024)
	}
	t.nodeSlab = append(t.nodeSlab, Node{Pos: pos, Name: words[0]})
	n := &t.nodeSlab[len(t.nodeSlab)-1]
	if len(words) > 1 {
		n.Args = words[1:]
	}
	if len(t.levels) == 0 {
		if t.top != nil {
			t.pending = n
		} else {
			t.root = append(t.root, n)
		}
	} else if l := &t.levels[len(t.levels)-1]; !l.discard {
		t.kids = append(t.kids, n)
	}
	t.last = n
	return n
}

// attach gives the innermost open block l its lines, which are
// kids[l.start:], and takes them off kids. A block without lines keeps a
// nil Block.
func (t *readTree) attach(l readLevel) {
	kids := t.kids[l.start:]
	t.kids = t.kids[:l.start]
	if l.node == nil || l.discard || len(kids) == 0 {
		return
	}
	if cap(t.kidSlab)-len(t.kidSlab) < len(kids) {
		t.kidSlab = make([]*Node, 0, max(4096, len(kids)))
	}
	start := len(t.kidSlab)
	t.kidSlab = append(t.kidSlab, kids...)
	l.node.Block = t.kidSlab[start:len(t.kidSlab):len(t.kidSlab)]
	clear(kids)
}

// flush attaches the lines of the blocks still open when the read ends
// (never closed, or the read stopped at a limit), innermost first.
func (t *readTree) flush() {
	for i := len(t.levels) - 1; i >= 0; i-- {
		t.attach(t.levels[i])
	}
}

func (t *readTree) open(pos Pos) {
	inDiscard := len(t.levels) > 0 && t.levels[len(t.levels)-1].discard
	switch {
	case t.last == nil:
		t.diags.Errorf(pos, "'{' without a keyword before it")
		t.levels = append(t.levels, readLevel{discard: true, pos: pos, start: len(t.kids)})
	case t.last.HasBlock:
		t.diags.Errorf(pos, "unexpected '{': %q already has a block", t.last.Name)
		t.levels = append(t.levels, readLevel{discard: true, pos: pos, start: len(t.kids)})
	case len(t.levels) >= t.maxDepth:
		if !t.deepSaid {
			t.diags.Errorf(pos, "blocks nested more than %d deep; the inner ones are ignored", t.maxDepth)
			t.deepSaid = true
		}
		t.levels = append(t.levels, readLevel{discard: true, pos: pos, start: len(t.kids)})
	default:
		t.last.HasBlock = true
		t.levels = append(t.levels, readLevel{node: t.last, discard: inDiscard, pos: t.last.Pos, start: len(t.kids)})
	}
	t.last = nil
}

func (t *readTree) close(pos Pos) {
	if len(t.levels) == 0 {
		t.diags.Errorf(pos, "unexpected '}': no block is open")
		t.last = nil
		return
	}
	l := t.levels[len(t.levels)-1]
	t.levels = t.levels[:len(t.levels)-1]
	t.attach(l)
	if l.node != nil {
		l.node.EndPos = pos
		if !l.discard && l.node.Pos.File != pos.File {
			t.diags.Warnf(pos, "'}' closes the %q block opened in another file, at %s", l.node.Name, l.node.Pos)
		}
	}
	t.last = l.node
}

// finish reports the blocks never closed, outermost first, each at the
// line that opened it.
func (t *readTree) finish() {
	for _, l := range t.levels {
		if l.node != nil {
			t.diags.Errorf(l.pos, "missing '}': the %q block opened here is never closed", l.node.Name)
		} else {
			t.diags.Errorf(l.pos, "missing '}' for the '{' here")
		}
	}
}

// inTopBlock reports whether the innermost open block is a top-level
// block named name.
func (t *readTree) inTopBlock(name string) bool {
	return len(t.levels) == 1 && t.levels[0].node != nil && t.levels[0].node.Name == name
}
