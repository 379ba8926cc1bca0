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

// cell is one window's state for one key. Its pointers come first: the
// collector scans an object only as far as its last pointer, so marking
// a cell reads its first cache line rather than all of it, and a store
// holds hundreds of thousands of cells.
type cell struct {
	key    ckey    // the key it is the state of (cellMap compares it)
	next   *cell   // the next cell whose key has the same hash (cellMap)
	ring   *ring   // bucketed counters once more than exactEvents are live
	sketch *sketch // bucketed HyperLogLog once more distinct values are live
	used   uint32  // shard tick of the last access (eviction)
	n      uint8   // events in ev
	// kb holds the key's bytes when they fit (cellMap.add), so that
	// comparing keys reads the cell rather than a string elsewhere.
	kb   [inlineKey]byte
	last float64 // newest event time added (idle expiry)
	ev   [exactEvents]event
}

// inlineKey is the longest key a cell keeps in itself: user, device and
// card ids, IPs and most e-mail addresses fit. With it a cell is 224
// bytes (208 without), and such a key needs no allocation of its own.
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
func (c *cell) observe(sp spec, t, v float64, add bool) float64 {
	if sp.agg == aggDistinct {
		return c.distinct(sp, t, v, add)
	}
	cutoff := t - sp.over
	if c.ring == nil {
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
		c.toRing(sp)
	}
	if add {
		c.ring.add(t, v)
		c.last = math.Max(c.last, t)
	}
	return c.ring.agg(sp.agg, t)
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

// toRing moves the exact events into a new ring of buckets.
func (c *cell) toRing(sp spec) {
	c.ring = &ring{width: sp.over / ringBuckets}
	for i := 0; i < int(c.n); i++ {
		c.ring.add(c.ev[i].t, c.ev[i].v)
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
func (c *cell) distinct(sp spec, t, v float64, add bool) float64 {
	cutoff := t - sp.over
	if c.sketch == nil {
		c.expire(cutoff)
		if add && !c.touch(t, v) {
			if int(c.n) == exactEvents {
				c.toSketch(sp)
				return c.distinct(sp, t, v, add)
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
	if add {
		c.sketch.add(t, math.Float64bits(v))
		c.last = math.Max(c.last, t)
	}
	return c.sketch.estimate(t)
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

func (c *cell) toSketch(sp spec) {
	c.sketch = &sketch{width: sp.over / sketchBuckets}
	for i := 0; i < int(c.n); i++ {
		c.sketch.add(c.ev[i].t, math.Float64bits(c.ev[i].v))
	}
	c.n = 0
}

// bytes is the memory a cell holds beyond the map entry.
func (c *cell) bytes() int {
	n := cellSize
	if c.ring != nil {
		n += ringSize
	}
	if c.sketch != nil {
		n += sketchSize
	}
	return n
}
