package windows

import (
	"math/bits"
	"math/rand/v2"
)

// heads maps a key hash to the index of its chain's first cell (0: none),
// in one array of slots probed linearly from the hash's home slot. It
// replaced a Go map[uint64]uint32: in a full store (a million keys, far
// larger than the caches) a map lookup read the map's directory, a table
// and a group, each a likely cache miss, and lookups were 3 µs of a
// decision's 44 (docs/OPERATIONS.md §15); here a lookup reads the slot's
// cache line and, at most loadMax full, rarely the next. Deletion shifts
// the slots after it back instead of leaving tombstones, so probes stay
// short however many keys come and go. The zero value is an empty table.
type heads struct {
	slots []headSlot // a power of two long (or empty)
	n     int        // slots in use
	shift uint       // 64 - log2(len(slots)): home(h) = h >> shift
}

// headSlot is one entry: a hash, its chain's first cell and the shard
// clock's tick at the last access to the hash's cells (eviction's age,
// see sample); i == 0 marks the slot empty (cell index 0 is none), so
// every hash value is a key. The tick fills what was the slot's padding.
type headSlot struct {
	h    uint64
	i    uint32
	tick uint32
}

const (
	headsFirst = 8 // slots of a table's first array
	// A table grows (doubling) before it is more than loadMax/loadDiv
	// full: linear probing's misses then read about three slots on
	// average, the same cache line.
	loadMax, loadDiv = 7, 10
)

// home is the first slot probed for h: its top bits, since a shard's
// hashes share their low bits (h % numShards picked the shard).
func (t *heads) home(h uint64) int { return int(h >> t.shift) }

// lookup returns h's slot, or the empty slot that ends its probe (i ==
// 0) when h is not held, or nil for an empty table.
func (t *heads) lookup(h uint64) *headSlot {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for p := t.home(h); ; p = (p + 1) & mask {
		if s := &t.slots[p]; s.i == 0 || s.h == h {
			return s
		}
	}
}

// get returns the index held for h, or 0.
func (t *heads) get(h uint64) uint32 {
	if s := t.lookup(h); s != nil {
		return s.i
	}
	return 0
}

// touch records an access to h's cells at tick; nothing if h is not held.
func (t *heads) touch(h uint64, tick uint32) {
	if s := t.lookup(h); s != nil && s.i != 0 {
		s.tick = tick
	}
}

// set makes i (not 0) the index held for h; a hash new to the table
// takes tick as its last access.
func (t *heads) set(h uint64, i uint32, tick uint32) {
	if (t.n+1)*loadDiv > len(t.slots)*loadMax {
		t.grow()
	}
	mask := len(t.slots) - 1
	for p := t.home(h); ; p = (p + 1) & mask {
		s := &t.slots[p]
		if s.i == 0 {
			*s = headSlot{h, i, tick}
			t.n++
			return
		}
		if s.h == h {
			s.i = i
			return
		}
	}
}

// del removes h, if held. The slots after it whose probe passed through
// its slot move back, so that no probe for them stops short at a hole.
func (t *heads) del(h uint64) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	p := t.home(h)
	for ; t.slots[p].h != h || t.slots[p].i == 0; p = (p + 1) & mask {
		if t.slots[p].i == 0 {
			return
		}
	}
	for j := (p + 1) & mask; t.slots[j].i != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at p unless its home lies
		// cyclically in (p, j]: then p is before its home.
		if k := t.home(t.slots[j].h); (j-k)&mask >= (j-p)&mask {
			t.slots[p] = t.slots[j]
			p = j
		}
	}
	t.slots[p] = headSlot{}
	t.n--
}

// grow doubles the slots (the first time, allocates headsFirst) and puts
// every entry back.
func (t *heads) grow() {
	old := t.slots
	size := max(headsFirst, 2*len(old))
	t.slots = make([]headSlot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	t.n = 0
	for _, s := range old {
		if s.i != 0 {
			t.set(s.h, s.i, s.tick)
		}
	}
}

// sample returns the hash, of evictSamples held ones, whose last access
// is the oldest at the shard clock's tick now: the first evictSamples
// entries from near's home slot on (all of them when the table holds
// fewer). It reports false for an empty table.
//
// Consecutive slots rather than independent draws, as Redis's
// dictGetSomeKeys samples consecutive buckets: the slots follow the
// hashes, not the keys' ages, so neighbours are as good a sample, and
// they are one page of memory. The caller passes the hash of the key it
// needs room for, whose lookup has just read that page: the hash is as
// random as a drawn slot, and the page costs nothing more. In a store
// far larger than the caches a random page costs a TLB miss, which on a
// virtual machine (two levels of page tables) is about 400 ns: more
// than the rest of the eviction (docs/OPERATIONS.md §15).
func (t *heads) sample(near uint64, now uint32) (uint64, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	var victim uint64
	var oldest uint32
	found := 0
	// A table holding fewer than evictSamples hashes is walked round
	// again: a hash seen twice does not change which is the oldest.
	for p := t.home(near); found < evictSamples; p = (p + 1) & mask {
		s := &t.slots[p]
		if s.i == 0 {
			continue
		}
		if age := now - s.tick; found == 0 || age > oldest {
			victim, oldest = s.h, age
		}
		found++
	}
	return victim, true
}

// each calls fn with every entry, starting at a random slot, until fn
// returns false. fn must not change the table.
func (t *heads) each(fn func(h uint64, i uint32) bool) {
	if t.n == 0 {
		return
	}
	start := rand.IntN(len(t.slots))
	for k := range t.slots {
		s := t.slots[(start+k)&(len(t.slots)-1)]
		if s.i != 0 && !fn(s.h, s.i) {
			return
		}
	}
}

// len is the number of hashes held.
func (t *heads) len() int { return t.n }
