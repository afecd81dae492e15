package ipvs

import (
	"testing"

	"github.com/mdlayher/genetlink"

	"vigil/internal/dataplane"
)

// seed adds the attribute part of each golden message to f's corpus.
func seed(f *testing.F, files ...string) {
	for _, name := range files {
		var m genetlink.Message
		if err := m.UnmarshalBinary(readHex(f, name)); err != nil {
			f.Fatal(err)
		}
		f.Add(m.Data)
	}
}

// FuzzDecodeService: the decoder never panics, and what it accepts survives
// an encode/decode round trip unchanged.
func FuzzDecodeService(f *testing.F) {
	seed(f, "reply_service.hex", "reply_service_stats.hex", "new_service_tcp4.hex", "new_service_fwmark6.hex")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeServiceReply(data)
		if err != nil {
			return
		}
		if checkName("", s.Scheduler) != nil || checkName("", s.PersistenceEngine) != nil {
			return // a name longer than the kernel allows
		}
		again, err := decodeServiceReply(serviceReply(t, s))
		if err != nil || again != s {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, s)
		}
	})
}

// FuzzDecodeDest is FuzzDecodeService for destinations.
func FuzzDecodeDest(f *testing.F) {
	seed(f, "reply_dest.hex", "reply_dest_stats.hex", "new_dest_gue.hex", "del_dest_v6.hex")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeDestReply(data, dataplane.IPv4)
		if err != nil {
			return
		}
		again, err := decodeDestReply(destReply(t, d), dataplane.IPv4)
		if err != nil || !sameDest(again, d) {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, d)
		}
	})
}

// FuzzDecodeDaemon: the sync daemon decoder never panics.
func FuzzDecodeDaemon(f *testing.F) {
	seed(f, "new_daemon.hex")
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeDaemon(data)
	})
}

// FuzzDecodeTimeouts: the GET_CONFIG decoder never panics.
func FuzzDecodeTimeouts(f *testing.F) {
	seed(f, "set_config.hex")
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeTimeouts(data)
	})
}
