package windows

import "math"

// Layout constants other stores mirror to keep the same semantics.
const (
	ExactEvents   = exactEvents
	RingBuckets   = ringBuckets
	SketchBuckets = sketchBuckets
)

const (
	// exactEvents is how many live events (or, for count_distinct,
	// distinct values) a key keeps exactly before it switches to buckets.
	exactEvents = 8
	// ringBuckets is how many buckets cover one window; the bucket width
	// is over/ringBuckets, and the ring keeps one more bucket for the
	// partly expired one at the window's old edge.
	ringBuckets = 16
	// sketchBuckets is the same for count_distinct's sketches, which are
	// larger (sketchRegisters bytes each).
	sketchBuckets = 8
)

// event is one exactly kept event: its time and value (for
// count_distinct, the value's hash as float bits).
type event struct{ t, v float64 }

// cell is one window's state for one key. It holds no pointers: cells
// live in their shard's pool (see pool), and name their chain neighbour,
// ring, sketch and long key by pool index, so the collector never reads
// them. The fields a lookup compares (the key) come first, in the same
// cache line as the chain link.
type cell struct {
	next   uint32 // the next cell whose key has the same hash (cellMap); 0: none
	ring   uint32 // bucketed counters once more than exactEvents are live (cellMap.rings); 0: none
	sketch uint32 // bucketed HyperLogLog once more distinct values are live (cellMap.sketches); 0: none
	long   uint32 // the key's string when longer than inlineKey (cellMap.long); 0: it is in kb
	w      uint32 // the key's window id
	n      uint8  // events in ev
	klen   uint8  // the key string's length when it is in kb
	// kb holds the key's bytes when they fit, so that comparing keys
	// reads the cell rather than a string elsewhere.
	kb   [inlineKey]byte
	num  float64 // the key's number part
	last float64 // newest event time added (idle expiry)
	ev   [exactEvents]event
}

// clear empties c as a zeroed cell is empty, but leaves its events: no
// code reads ev past n (as expire leaves them already), and the events
// are the cell's second and third cache lines. A store full of new keys
// frees a cell for every one it adds; zeroing the whole cell also wrote
// the event lines, the third of which a key with a few events never
// reads: a miss in a store far larger than the caches, for nothing.
func (c *cell) clear() {
	c.next, c.ring, c.sketch, c.long, c.w = 0, 0, 0, 0, 0
	c.n, c.klen = 0, 0
	c.kb = [inlineKey]byte{}
	c.num, c.last = 0, 0
}

// inlineKey is the longest key string a cell keeps in itself: user,
// device and card ids, IPs and most e-mail addresses fit. With it a cell
// is 192 bytes (three cache lines), and such a key needs no allocation of its own.
const inlineKey = 24

// bucket aggregates the events of one time slice.
type bucket struct {
	idx           int64 // floor(t / width); meaningful when n > 0
	n             float64
	sum, min, max float64
}

type ring struct {
	width float64
	b     [ringBuckets + 1]bucket
}

// spec is what a cell needs to know about its window.
type spec struct {
	agg  aggKind
	over float64
}

type aggKind uint8

const (
	aggCount aggKind = iota
	aggSum
	aggAvg
	aggMin
	aggMax
	aggDistinct
)

var aggKinds = map[string]aggKind{"count": aggCount, "sum": aggSum, "avg": aggAvg, "min": aggMin, "max": aggMax, "count_distinct": aggDistinct}

// observe adds an event (when add is set) at time t and returns the
// aggregate over (t-over, t].
// The cell's ring, if any, is in cm's pool.
func (c *cell) observe(cm *cellMap, sp spec, t, v float64, add bool) float64 {
	if sp.agg == aggDistinct {
		return c.distinct(cm, sp, t, v, add)
	}
	cutoff := t - sp.over
	if c.ring == 0 {
		c.expire(cutoff)
		if !add {
			return c.exactAgg(sp.agg, cutoff, t)
		}
		if int(c.n) < exactEvents {
			c.ev[c.n] = event{t, v}
			c.n++
			c.last = math.Max(c.last, t)
			return c.exactAgg(sp.agg, cutoff, t)
		}
		c.toRing(cm, sp)
	}
	r := cm.rings.at(c.ring)
	if add {
		r.add(t, v)
		c.last = math.Max(c.last, t)
	}
	return r.agg(sp.agg, t)
}

// expire drops exactly kept events at or before cutoff.
func (c *cell) expire(cutoff float64) {
	k := 0
	for i := 0; i < int(c.n); i++ {
		if c.ev[i].t > cutoff {
			c.ev[k] = c.ev[i]
			k++
		}
	}
	c.n = uint8(k)
}

func (c *cell) exactAgg(agg aggKind, cutoff, t float64) float64 {
	n, sum, lo, hi := 0.0, 0.0, math.Inf(1), math.Inf(-1)
	for i := 0; i < int(c.n); i++ {
		e := c.ev[i]
		if e.t <= cutoff || e.t > t {
			continue
		}
		n++
		sum += e.v
		lo, hi = math.Min(lo, e.v), math.Max(hi, e.v)
	}
	return finish(agg, n, sum, lo, hi)
}

func finish(agg aggKind, n, sum, lo, hi float64) float64 {
	switch agg {
	case aggCount:
		return n
	}
	if n == 0 {
		return 0
	}
	switch agg {
	case aggSum:
		return sum
	case aggAvg:
		return sum / n
	case aggMin:
		return lo
	}
	return hi
}

// toRing moves the exact events into a new ring of buckets from cm.
func (c *cell) toRing(cm *cellMap, sp spec) {
	c.ring = cm.rings.alloc()
	r := cm.rings.at(c.ring)
	r.width = sp.over / ringBuckets
	for i := 0; i < int(c.n); i++ {
		r.add(c.ev[i].t, c.ev[i].v)
	}
	c.n = 0
}

func (r *ring) add(t, v float64) {
	idx := int64(math.Floor(t / r.width))
	b := &r.b[uint64(idx)%uint64(len(r.b))]
	if b.n == 0 || b.idx != idx {
		if b.n != 0 && b.idx > idx {
			// The slot holds a newer slice: the event is older than the
			// ring covers and cannot count in any window read from now on.
			return
		}
		*b = bucket{idx: idx, min: v, max: v}
	}
	b.n++
	b.sum += v
	b.min, b.max = math.Min(b.min, v), math.Max(b.max, v)
}

// agg reads the buckets of slices floor((t-over)/width) .. floor(t/width):
// every event of (t-over, t] plus those of the partly expired oldest
// slice, which is at most one bucket width older than the window.
func (r *ring) agg(agg aggKind, t float64) float64 {
	hiIdx := int64(math.Floor(t / r.width))
	loIdx := hiIdx - ringBuckets
	n, sum, lo, hi := 0.0, 0.0, math.Inf(1), math.Inf(-1)
	for i := range r.b {
		b := &r.b[i]
		if b.n == 0 || b.idx < loIdx || b.idx > hiIdx {
			continue
		}
		n += b.n
		sum += b.sum
		if b.min < lo {
			lo = b.min
		}
		if b.max > hi {
			hi = b.max
		}
	}
	return finish(agg, n, sum, lo, hi)
}

// distinct keeps up to exactEvents distinct values with the time each was
// last seen, then bucketed sketches.
func (c *cell) distinct(cm *cellMap, sp spec, t, v float64, add bool) float64 {
	cutoff := t - sp.over
	if c.sketch == 0 {
		c.expire(cutoff)
		if add && !c.touch(t, v) {
			if int(c.n) == exactEvents {
				c.toSketch(cm, sp)
				return c.distinct(cm, sp, t, v, add)
			}
			c.ev[c.n] = event{t, v}
			c.n++
		}
		if add {
			c.last = math.Max(c.last, t)
		}
		n := 0.0
		for i := 0; i < int(c.n); i++ {
			if c.ev[i].t <= t {
				n++
			}
		}
		return n
	}
	sk := cm.sketches.at(c.sketch)
	if add {
		sk.add(t, math.Float64bits(v))
		c.last = math.Max(c.last, t)
	}
	return sk.estimate(t)
}

// touch moves an already held value's time forward and reports whether
// it was held.
func (c *cell) touch(t, v float64) bool {
	bits := math.Float64bits(v)
	for i := 0; i < int(c.n); i++ {
		if math.Float64bits(c.ev[i].v) == bits {
			c.ev[i].t = math.Max(c.ev[i].t, t)
			return true
		}
	}
	return false
}

func (c *cell) toSketch(cm *cellMap, sp spec) {
	c.sketch = cm.sketches.alloc()
	sk := cm.sketches.at(c.sketch)
	sk.width = sp.over / sketchBuckets
	for i := 0; i < int(c.n); i++ {
		sk.add(c.ev[i].t, math.Float64bits(c.ev[i].v))
	}
	c.n = 0
}

// bytes is the memory a cell holds beyond its table entry.
func (c *cell) bytes() int {
	n := cellSize
	if c.ring != 0 {
		n += ringSize
	}
	if c.sketch != 0 {
		n += sketchSize
	}
	return n
}
