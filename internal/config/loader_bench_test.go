package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoaderReload is a reload of the IPVS lab's file (5,000 virtual
// servers × 4 real servers) that changes one weight, alternately 1 and 2,
// with a Loader: what the LVS process's parse of a reload costs. Load is
// the same file parsed whole, for comparison.
func BenchmarkLoaderReload(b *testing.B) {
	text := loaderLab(5000)
	const old = "    real_server 10.3.10.101 8080 {\n        weight 1\n"
	texts := [2][]byte{[]byte(text), []byte(strings.Replace(text, old, "    real_server 10.3.10.101 8080 {\n        weight 2\n", 1))}
	path := filepath.Join(b.TempDir(), "keepalived.conf")
	write := func(i int) {
		if err := os.WriteFile(path, texts[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Loader", func(b *testing.B) {
		var l Loader
		write(0)
		l.Load(path, LoadOptions{HostChecks: true})
		i := 0
		for b.Loop() {
			i++
			b.StopTimer()
			write(i)
			b.StartTimer()
			if _, diags := l.Load(path, LoadOptions{HostChecks: true}); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
		if st := l.Stats(); st.Parsed != 1 {
			b.Fatalf("the last load parsed %d blocks, want 1", st.Parsed)
		}
	})
	b.Run("Load", func(b *testing.B) {
		write(0)
		for b.Loop() {
			if _, diags := Load(path, LoadOptions{HostChecks: true}); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
	})
}
