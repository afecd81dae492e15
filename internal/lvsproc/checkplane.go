package lvsproc

import (
	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/nft"
	"vigil/internal/lvs"
)

// judges are the planes a configuration test can judge a configuration
// against without opening them: their verdict on a whole service is pure.
// IPVS's capabilities depend on the kernel, and the others are judged at
// start.
var judges = map[string]func(dataplane.Entry) error{
	"nftables": nft.Explain,
}

// CheckPlane returns, each with its virtual server's file:line, what the
// plane named by --dataplane cannot serve of cfg, judging every real and
// sorry server as if it were up (what the plane must express at some
// point). It returns nil for a plane it cannot judge offline (auto, ipvs,
// proxy): those refusals come at start, with the same file:line.
func CheckPlane(cfg *config.Config, plane string) []error {
	judge, ok := judges[plane]
	if !ok {
		return nil
	}
	e := lvs.New(cfg)
	t := e.Configured()
	var out []error
	for _, k := range t.Keys() {
		if err := judge(t[k]); err != nil {
			out = append(out, e.Explain(&lvs.UnsupportedError{Key: k, Err: err}))
		}
	}
	return out
}
