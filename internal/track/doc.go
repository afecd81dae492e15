// Package track turns what keepalived.conf tracks (vrrp_script,
// track_interface, track_file, vrrp_track_process) into what a VRRP instance
// needs: a priority delta and a set of faults.
//
// Each tracked object has its own tracker (a goroutine per script and per
// file, one /proc scanner for every process tracker) that emits Update
// values; a Set routes them to one Aggregator per instance, which applies
// keepalived's weight rules and calls the instance through the small Target
// interface. The weight rules (Effect), the rise/fall counter (RiseFall), the
// process quorum with its delays (Quorum) and the priority arithmetic
// (EffectivePriority) are pure and tested on their own.
package track
