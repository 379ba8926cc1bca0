// Package windows keeps velocity windows — count, sum, avg, min, max and
// count_distinct of recent events per key — behind the VM's WindowStore
// interface, in process.
//
// A Store holds the state of every registered window, sharded by a hash
// of (window, key) so that requests for different keys rarely share a
// lock. Memory per key does not grow with the event rate: a key holds its
// last few events exactly and switches to a ring of time buckets when
// more are live (counts may then include events up to one bucket width
// older than the window), and count_distinct switches from an exact set
// to bucketed HyperLogLog sketches above a small cardinality. The number
// of keys is capped (least recently seen keys are evicted first), idle
// keys expire after their window, and the whole store can be written to
// and restored from a versioned, checksummed snapshot. docs/STATE.md
// states the error bounds and the memory bound.
package windows
