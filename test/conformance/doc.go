// Package conformance is one suite of load-balancing scenarios run against
// every data plane of Vigil: the same table of scenarios drives the real
// daemon (vigil -C, --dataplane ipvs|nftables|proxy) in a director
// namespace, with a client namespace and real server namespaces that answer
// with their names, and asserts what the clients see and what
// `vigil status --json` says.
//
// The plane comes from -conformance.planes (or $VIGIL_CONFORMANCE_PLANES), a
// comma-separated list; by default it is ipvs on a kernel with IPVS (the VM
// lab, make vmtest) and nftables,proxy elsewhere. A scenario a plane cannot
// express, as its dataplane.Capabilities say, is skipped with the reason, so
// a plane that gains a feature is tested by the same table at once.
//
// The code is all in the _test files: this file only documents the package.
package conformance
