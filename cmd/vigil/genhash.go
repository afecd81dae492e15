package main

import (
	"io"
	"path/filepath"

	"vigil/internal/check/genhash"
)

// Vigil is also keepalived's genhash: "vigil genhash ..." and a binary (or
// link) named genhash take genhash's flags and print what it prints.

// isGenhash reports whether the program was started under the name
// genhash.
func isGenhash(argv0 string) bool { return filepath.Base(argv0) == "genhash" }

// runGenhash runs genhash with its arguments; prog is the name shown in its
// usage text.
func runGenhash(prog string, args []string, stdout, stderr io.Writer) int {
	return genhash.Main(prog, args, stdout, stderr)
}
