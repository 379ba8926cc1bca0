package windows

import (
	"errors"
	"runtime"
	"strings"
	"time"
)

// Consistent cuts. A snapshot must hold exactly the effects of a set of
// store calls that the audit log can name, so that a restart can restore
// it and re-apply the calls logged after it, each exactly once:
//
//   - Every store call runs under a generation (Hold, then ObserveAt,
//     then Release). A caller that logs the call holds the generation
//     until its record is appended and writes the generation into the
//     record ("window_gen").
//   - BeginCut closes the current generation G: later calls get G+1. It
//     returns once no call of generation G or older is held any more, so
//     every such call has changed the store and appended its record.
//   - Until a shard has been written, a call of a later generation that
//     touches one of its keys first saves the key's cut image (copy on
//     write); a straggler call of generation G that touches a saved key
//     changes the image too. The shard's snapshot writes the images.
//
// The snapshot then holds exactly the calls of generation ≤ G. Records
// appended before the cut began are all of generation ≤ G, so replay
// starts at the log position read before BeginCut and skips records
// whose window_gen is ≤ G.

// Hold returns the current generation and keeps it open: a cut that
// closes it waits for the matching Release.
func (s *Store) Hold() uint64 {
	for {
		g := s.gen.Load()
		a := &s.active[g&1]
		a.Add(1)
		if s.gen.Load() == g {
			return g
		}
		a.Add(-1) // a cut closed g meanwhile: take the next one
	}
}

// Release ends a Hold of generation gen.
func (s *Store) Release(gen uint64) { s.active[gen&1].Add(-1) }

// Generation returns the current (open) generation.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// SetGenerationAbove makes every later generation greater than g: after a
// restart, the calls of the new process must not be taken for calls that
// an old snapshot already holds.
func (s *Store) SetGenerationAbove(g uint64) {
	for {
		cur := s.gen.Load()
		if cur > g || s.gen.CompareAndSwap(cur, g+1) {
			return
		}
	}
}

// Cut is a consistent point of the store, taken by BeginCut and written
// by Write (which ends it).
type Cut struct {
	s    *Store
	Gen  uint64 // the generation closed: the cut holds the calls of generations ≤ Gen
	next int    // shards written so far
}

// CutWait is how long BeginCut waits for the calls of the generation it
// closes. A call holds its generation for one request's evaluation and
// record append; one held longer is a caller that never released it.
const CutWait = 30 * time.Second

// ErrCutStuck is returned when a call held the closed generation for
// longer than the wait: the snapshot is not taken, rather than hang.
var ErrCutStuck = errors.New("windows: a store call held the snapshot's generation too long (a caller that never released it); snapshot not taken")

// BeginCut closes the current generation and waits (up to wait) until no
// call holds it or an older one. Only one cut is open at a time; the next
// BeginCut waits for this cut's Write.
func (s *Store) BeginCut(wait time.Duration) (*Cut, error) {
	s.cutMu.Lock()
	g := s.gen.Load()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.cut, sh.cow = g, map[ckey]uint32{}
		sh.mu.Unlock()
	}
	s.gen.Store(g + 1) // only a cut moves the generation, under cutMu
	// Wait for the calls of generation g: a Hold of g either finished its
	// Add before the Store above (counted here) or sees the new
	// generation and takes g+1. Older generations were drained by the
	// cut that closed them. Calls are short (one request's evaluation and
	// record append), so polling costs little.
	deadline := time.Now().Add(wait)
	for spins := 0; s.active[g&1].Load() != 0; spins++ {
		if spins < 100 {
			runtime.Gosched()
			continue
		}
		if time.Now().After(deadline) {
			(&Cut{s: s, Gen: g}).end()
			return nil, ErrCutStuck
		}
		time.Sleep(50 * time.Microsecond)
	}
	return &Cut{s: s, Gen: g}, nil
}

// end releases the shards not yet written and the cut itself.
func (c *Cut) end() {
	for ; c.next < numShards; c.next++ {
		sh := &c.s.shards[c.next]
		sh.mu.Lock()
		sh.endCut()
		sh.mu.Unlock()
	}
	c.s.cutMu.Unlock()
}

// eachCell calls fn for every cell of shard i as of the cut, with the
// cellMap holding its ring and sketch, then ends the cut's copy on write
// for that shard. Calls wait for the shard's lock meanwhile, as they did
// for the unversioned snapshot. A key string fn gets is valid during the
// call only.
func (c *Cut) eachCell(i int, fn func(ckey, *cell, *cellMap)) {
	sh := &c.s.shards[i]
	sh.mu.Lock()
	cm := &sh.cells
	cm.each(func(_ uint64, _ uint32, cl *cell) bool {
		k := cm.keyOf(cl)
		if pre, saved := sh.cow[k]; saved {
			if pre != 0 {
				fn(k, cm.at(pre), cm)
			}
			return true
		}
		fn(k, cl, cm)
		return true
	})
	for k, pre := range sh.cow {
		if cm.get(c.s.keyHash(k), k) == nil && pre != 0 {
			fn(k, cm.at(pre), cm) // dropped from the live store since the cut
		}
	}
	sh.endCut()
	sh.mu.Unlock()
	c.next = i + 1
}

// endCut frees the cut's images and ends its copy on write (called with
// the shard locked).
func (sh *shard) endCut() {
	for _, i := range sh.cow {
		sh.cells.free(i)
	}
	sh.cut, sh.cow = 0, nil
}

// cutObserve keeps the cut image of key k before a call of generation
// gen changes it (called with the shard locked, while its cut is open).
func (sh *shard) cutObserve(h uint64, k ckey, sp spec, t, v float64, add bool, gen uint64) {
	pre, saved := sh.cow[k]
	if gen > sh.cut {
		if !saved {
			i, _ := sh.cells.find(h, k)
			sh.cow[k] = sh.cells.adopt(&sh.cells, i) // 0: absent in the cut
		}
		return
	}
	if !saved {
		return // the cut image is the live cell, which the call changes
	}
	// A call of the cut's generation after a later one touched the key:
	// the cut holds its effect, so the image gets it too.
	if pre == 0 {
		if !add {
			return
		}
		pre, _ = sh.cells.newCell()
		sh.cow[k] = pre
	}
	sh.cells.at(pre).observe(&sh.cells, sp, t, v, add)
}

// cutEvict keeps the cut's view of evicted cell victim, already out of
// its chain: evicted by a later generation, the cut still holds it; by
// the cut's own generation, the cut loses it as the live store does. It
// reports whether the cut took the cell as its image (the caller then
// must not free it).
func (sh *shard) cutEvict(victim uint32, gen uint64) (kept bool) {
	k := sh.cells.keyOf(sh.cells.at(victim))
	pre, saved := sh.cow[k]
	if gen > sh.cut {
		if !saved {
			k.str = strings.Clone(k.str) // the map outlives the cell's own bytes
			sh.cow[k] = victim           // leaving the live map: no copy needed
			return true
		}
		return false
	}
	if saved {
		sh.cells.free(pre)
		sh.cow[k] = 0
	}
	return false
}
