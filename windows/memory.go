// Package windows keeps velocity windows — count, sum, avg, min, max and
// count_distinct of recent events per key — for the VM's WindowStore
// interface. Memory is the embedded store: bounded per key, with idle
// keys swept after their window has passed.
package windows

import (
	"math"
	"sync"

	"github.com/riskforge/riskforge/vm"
)

// DefaultMaxEvents bounds the events kept per key and window; older
// events are dropped first, so a flood from one key cannot exhaust memory.
const DefaultMaxEvents = 4096

// Memory is an in-process WindowStore. It is safe for concurrent use.
type Memory struct {
	specs     []vm.Window
	shards    []shard
	maxEvents int
}

// shard is one window's keys. String and numeric keys live in separate
// maps so lookups take the runtime's fast string path instead of hashing
// a struct (half of Observe's time before).
type shard struct {
	mu   sync.Mutex
	strs map[string]*series
	nums map[float64]*series
}

func (sh *shard) series(key vm.WindowKey) *series {
	if key.Str != "" || key.Num == 0 {
		se := sh.strs[key.Str]
		if se == nil {
			se = &series{}
			sh.strs[key.Str] = se
		}
		return se
	}
	se := sh.nums[key.Num]
	if se == nil {
		se = &series{}
		sh.nums[key.Num] = se
	}
	return se
}

// series holds one key's events in arrival order.
type series struct {
	t    []float64
	v    []float64
	s    []string
	last float64
}

// NewMemory returns a store for the windows of prog.
func NewMemory(prog *vm.Program, maxEvents int) *Memory {
	if maxEvents <= 0 {
		maxEvents = DefaultMaxEvents
	}
	m := &Memory{specs: prog.Windows, shards: make([]shard, len(prog.Windows)), maxEvents: maxEvents}
	for i := range m.shards {
		m.shards[i].strs = map[string]*series{}
		m.shards[i].nums = map[float64]*series{}
	}
	return m
}

// Observe implements vm.WindowStore.
func (m *Memory) Observe(w int, key vm.WindowKey, t, v float64, s string) float64 {
	spec := &m.specs[w]
	sh := &m.shards[w]
	sh.mu.Lock()
	se := sh.series(key)
	se.add(t, v, s, m.maxEvents)
	se.evict(t - spec.OverSec)
	agg := se.aggregate(spec.Agg)
	sh.mu.Unlock()
	return agg
}

func (se *series) add(t, v float64, s string, limit int) {
	if len(se.t) >= limit {
		se.drop(1)
	}
	se.t = append(se.t, t)
	se.v = append(se.v, v)
	if s != "" || len(se.s) > 0 {
		for len(se.s) < len(se.t)-1 {
			se.s = append(se.s, "")
		}
		se.s = append(se.s, s)
	}
	se.last = math.Max(se.last, t)
}

// evict drops events at or before cutoff (the window is (t-over, t]).
func (se *series) evict(cutoff float64) {
	n := 0
	for n < len(se.t) && se.t[n] <= cutoff {
		n++
	}
	se.drop(n)
}

func (se *series) drop(n int) {
	if n == 0 {
		return
	}
	se.t = append(se.t[:0], se.t[n:]...)
	se.v = append(se.v[:0], se.v[n:]...)
	if len(se.s) >= n {
		se.s = append(se.s[:0], se.s[n:]...)
	}
}

func (se *series) aggregate(agg string) float64 {
	switch agg {
	case "count":
		return float64(len(se.t))
	case "count_distinct":
		return se.distinct()
	}
	if len(se.v) == 0 {
		return 0
	}
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, x := range se.v {
		sum += x
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	switch agg {
	case "sum":
		return sum
	case "avg":
		return sum / float64(len(se.v))
	case "min":
		return lo
	}
	return hi
}

// distinct counts distinct values; windows are bounded, so a quadratic
// scan without allocation beats building a set.
func (se *series) distinct() float64 {
	n := 0
	for i := range se.t {
		dup := false
		for j := 0; j < i && !dup; j++ {
			dup = se.same(i, j)
		}
		if !dup {
			n++
		}
	}
	return float64(n)
}

func (se *series) same(i, j int) bool {
	if len(se.s) > 0 {
		return se.s[i] == se.s[j]
	}
	return se.v[i] == se.v[j]
}

// Sweep drops keys whose newest event is older than their window at time
// now (Unix seconds), returning how many were dropped.
func (m *Memory) Sweep(now float64) int {
	dropped := 0
	for w := range m.shards {
		sh := &m.shards[w]
		cutoff := now - m.specs[w].OverSec
		sh.mu.Lock()
		dropped += sweepMap(sh.strs, cutoff) + sweepMap(sh.nums, cutoff)
		sh.mu.Unlock()
	}
	return dropped
}

func sweepMap[K comparable](keys map[K]*series, cutoff float64) int {
	n := 0
	for k, se := range keys {
		if se.last <= cutoff {
			delete(keys, k)
			n++
		}
	}
	return n
}

// Keys returns the number of keys held across all windows.
func (m *Memory) Keys() int {
	n := 0
	for w := range m.shards {
		m.shards[w].mu.Lock()
		n += len(m.shards[w].strs) + len(m.shards[w].nums)
		m.shards[w].mu.Unlock()
	}
	return n
}
