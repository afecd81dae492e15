package config

import (
	"errors"
	"strings"
)

// This file holds the character-level rules of keepalived.conf, written to
// behave like keepalived 2.2.7's reader:
//
//   - lexDecomment strips comments ('!' and '#', whole-line or trailing, not
//     inside double quotes) and surrounding blanks, turns "\#" and "\!" into
//     literal characters, and keeps a trailing '\' (the multi-line
//     definition marker).
//   - lexSplitBrace cuts a line at its first '{' or '}' outside double
//     quotes, so "a { b }" is read as the four lines "a", "{", "b", "}".
//   - lexWords splits a line into words with the quoting and escapes the
//     manual documents under "Quoted strings".

// lexIsBlank reports whether c is a blank as keepalived trims them.
func lexIsBlank(c byte) bool { return c == ' ' || c == '\t' }

// lexIsSpace reports whether c separates words.
func lexIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r' || c == '\v'
}

// lexDecomment removes a comment and leading/trailing blanks from one
// physical line. A '\' ending the line is kept (after the blanks before it
// are removed) because it marks the continuation of a multi-line
// definition; keepalived honours it even after a comment, and so do we.
// openQuote is true when a double quote is left open.
func lexDecomment(s string) (out string, openQuote bool) {
	s = lexTrimBlanks(s)
	// Most lines have no backslash: then the result is a substring of s
	// and nothing is copied. A backslash may remove a character (\#), so
	// those lines take the copying path below.
	quote, cut := false, -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if cut < 0 {
				quote = !quote
			}
		case '\\':
			return lexDecommentEscaped(s)
		case '!', '#':
			if !quote && cut < 0 {
				cut = i
			}
		}
	}
	if cut >= 0 {
		s = s[:cut]
	}
	return lexTrimRightBlanks(s), quote
}

// lexTrimBlanks removes leading blanks (strings.TrimLeft without building
// a set of cut characters for every call).
func lexTrimBlanks(s string) string {
	i := 0
	for i < len(s) && lexIsBlank(s[i]) {
		i++
	}
	return s[i:]
}

// lexTrimRightBlanks removes trailing blanks.
func lexTrimRightBlanks(s string) string {
	i := len(s)
	for i > 0 && lexIsBlank(s[i-1]) {
		i--
	}
	return s[:i]
}

// lexDecommentEscaped is lexDecomment for a line holding a backslash, with
// its leading blanks already removed.
func lexDecommentEscaped(s string) (out string, openQuote bool) {
	b := []byte(s)
	quote, cont := false, false
	cut := -1
scan:
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			if cut < 0 {
				quote = !quote
			}
			i++
		case '\\':
			if i+1 >= len(b) {
				b = b[:i]
				cont = true
				break scan
			}
			if !quote && (b[i+1] == '#' || b[i+1] == '!') {
				// "\#" is a literal '#': drop the backslash.
				b = append(b[:i], b[i+1:]...)
				i++
			} else {
				i += 2
			}
		case '!', '#':
			if !quote && cut < 0 {
				cut = i
			}
			i++
		default:
			i++
		}
	}
	if cut >= 0 && cut < len(b) {
		b = b[:cut]
	}
	out = lexTrimRightBlanks(string(b))
	if cont {
		out += `\`
	}
	return out, quote
}

// lexSplitBrace cuts s at its first '{' or '}' outside double quotes. When
// s starts with a brace, head is that brace alone and rest is what follows
// it; otherwise head is the text before the brace and rest starts at the
// brace. rest is "" when there is nothing left to read on this line.
func lexSplitBrace(s string) (head, rest string) {
	if s == "" {
		return "", ""
	}
	p := -1
	if s[0] == '{' || s[0] == '}' {
		p = 0
	} else {
	find:
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '"':
				j := strings.IndexByte(s[i+1:], '"')
				if j < 0 {
					break find // an open quote hides every later brace
				}
				i += 1 + j
			case '{', '}':
				p = i
				break find
			}
		}
	}
	switch {
	case p < 0:
		return strings.TrimRight(s, " \t"), ""
	case p == 0:
		return s[:1], strings.Trim(s[1:], " \t")
	default:
		return strings.TrimRight(s[:p], " \t"), strings.TrimRight(s[p:], " \t")
	}
}

// errLexTrailingBackslash is returned for a line ending in a lone '\'.
var errLexTrailingBackslash = errors.New(`line ends with '\': continuation lines are only supported in $NAME= definitions`)

// Errors of lexWords for a quote left open.
var (
	errLexOpenDouble = errors.New(`missing terminating " quote`)
	errLexOpenSingle = errors.New(`missing terminating ' quote`)
)

// lexWords splits a line into words. Words are separated by white space;
// text between double or single quotes is part of one word with its white
// space kept; quotes may appear inside a word (a"b c"d is the word "ab cd"),
// and "" is an empty word. Backslash escapes are decoded inside and outside
// quotes as keepalived's quoted-string reader does: \a \b \E \f \n \r \t \v,
// \nnn (octal, up to 3 digits), \xHH... (hex digits), \cC (control-C) and
// \C for any other C. On an error the words read so far, including a
// partial last word, are still returned so the caller can keep the
// structure of the file.
func lexWords(s string) ([]string, error) {
	return lexAppendWords(nil, s)
}

// lexAppendWords is lexWords appending the words to words. A line without
// quotes or backslashes, the usual case, is cut into substrings of s: no
// word is copied.
func lexAppendWords(words []string, s string) ([]string, error) {
	if !lexHasQuoting(s) {
		i := 0
		for {
			for i < len(s) && lexIsSpace(s[i]) {
				i++
			}
			if i >= len(s) {
				return words, nil
			}
			j := i
			for j < len(s) && !lexIsSpace(s[j]) {
				j++
			}
			words = append(words, s[i:j])
			i = j
		}
	}
	var err error
	i := 0
	for {
		for i < len(s) && lexIsSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		var w []byte
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case quote == 0 && lexIsSpace(c):
				break word
			case c == '\\':
				if i+1 >= len(s) {
					err = errLexTrailingBackslash
					i++
					break word
				}
				var ch byte
				ch, i = lexEscape(s, i+1)
				w = append(w, ch)
			case quote != 0 && c == quote:
				quote = 0
				i++
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				i++
			default:
				w = append(w, c)
				i++
			}
		}
		if quote != 0 && err == nil {
			err = errLexOpenSingle
			if quote == '"' {
				err = errLexOpenDouble
			}
		}
		words = append(words, string(w))
	}
	return words, err
}

// lexHasQuoting reports whether s holds a quote or a backslash, the
// characters that make a word differ from the text it is written as.
func lexHasQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\'', '\\':
			return true
		}
	}
	return false
}

// lexEscape decodes the escape whose first character (after the '\') is at
// s[i], returning the byte and the index after the escape.
func lexEscape(s string, i int) (byte, int) {
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s) && lexHexVal(s[i+1]) >= 0:
		var v byte
		i++
		for i < len(s) && lexHexVal(s[i]) >= 0 {
			v = v<<4 | byte(lexHexVal(s[i]))
			i++
		}
		return v, i
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 2
	case c >= '0' && c <= '7':
		v := int(c - '0')
		i++
		for n := 1; n < 3 && i < len(s) && s[i] >= '0' && s[i] <= '7'; n++ {
			v = v<<3 | int(s[i]-'0')
			i++
		}
		return byte(v), i
	}
	switch c {
	case 'a':
		c = '\a'
	case 'b':
		c = '\b'
	case 'E':
		c = 0x1b
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'v':
		c = '\v'
	}
	return c, i + 1
}

// lexHexVal returns the value of hex digit c, or -1.
func lexHexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// lexStrtol parses a leading integer of s like C's strtol with base 0:
// optional blanks and sign, then "0x" hex, a leading "0" octal, or decimal.
// It returns the value, the rest of s, and whether the value overflowed
// (then it is clamped, as strtol does).
func lexStrtol(s string) (v int64, rest string, overflow bool) {
	i := 0
	for i < len(s) && lexIsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && lexHexVal(s[i+2]) >= 0:
		base = 16
		i += 2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	var u uint64
	const limit = uint64(1) << 63
	for i < len(s) {
		d := lexHexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if !overflow {
			if u > (limit-uint64(d))/base {
				overflow = true
			} else {
				u = u*base + uint64(d)
			}
		}
		i++
	}
	if i == start && base != 8 {
		// No digits: strtol consumes nothing.
		return 0, s, false
	}
	switch {
	case overflow && neg:
		return -1 << 63, s[i:], true
	case overflow || (!neg && u == limit):
		return 1<<63 - 1, s[i:], u == limit || overflow
	case neg:
		return -int64(u), s[i:], false
	}
	return int64(u), s[i:], false
}
