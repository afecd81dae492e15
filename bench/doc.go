// Package bench measures Vigil's VRRP side by side with keepalived, on the
// same configurations, in network namespaces: the outage a client sees when
// the master's link is cut or the master is stopped, the CPU and memory of
// many instances at short advert intervals, and spurious transitions while
// the CPUs are saturated. BenchmarkDataplanes (make bench-dataplane) puts
// the nftables and proxy data planes, in the real daemon, under wrk through
// a VIP to nginx real servers in namespaces, side by side with hand-written
// nft DNAT and HAProxy, and measures the memory of idle proxied connections.
//
// The scenarios are Go benchmarks (make bench); they need root and
// keepalived, skip without them, and report what they measure as custom
// metrics. With VIGIL_BENCH_REPORT=FILE they also write the results as
// markdown tables to FILE, which is how docs/BENCHMARKS.md is made. Nothing
// here asserts on wall-clock numbers.
//
// This file's package holds the pure helpers (statistics, /proc parsing, log
// scanning); the scenarios live in the _test.go files.
package bench
