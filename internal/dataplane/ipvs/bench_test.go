package ipvs

import "testing"

// BenchmarkEncodeAddDest is the encoding of one pipelined request, the
// start's most frequent (a real server's add).
func BenchmarkEncodeAddDest(b *testing.B) {
	cs := startChanges(1)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = appendChange(buf[:0], 42, uint32(i), cs[1]); err != nil {
			b.Fatal(err)
		}
	}
}
