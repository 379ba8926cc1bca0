package windows

import (
	"hash/maphash"
	"math"
	"unsafe"
)

// cellMap is one shard's cells by key. Its table (heads) is keyed by a
// seeded 64-bit hash of the key rather than by the key: a slot is 16
// bytes instead of 40 and a probe compares one word, so a lookup in a
// store far larger than the CPU's caches touches few cache lines (the
// table's slot, then the cell, whose first line holds the key for the
// exact comparison).
// Keys whose hashes collide chain through cell.next; the hash is seeded
// per store, so no client can choose keys that share one.
//
// One key's cells of neighbouring windows (ids in one block of
// windowBlock) share a hash on purpose: a policy usually keeps several
// windows on one key (count and sum by user_id), and a decision observes
// them one after the other, so the second finds the table's slot, the
// shard's lock and the chain already in the CPU's cache instead of
// missing on each again. A key too long to keep in its cells (see
// inlineKey) has one copy of its string, which they share. A chain is
// therefore at most windowBlock cells long, plus true collisions.
type cellMap struct {
	m        heads      // hash -> index of the chain's first cell
	n        int        // cells in chains
	cells    pool[cell] // the chained cells, and a cut's images (cut.go)
	rings    pool[ring]
	sketches pool[sketch]
	long     pool[string] // keys longer than inlineKey
}

// drop empties cm and unmaps its pools' regions (see pool.drop).
func (cm *cellMap) drop() {
	cm.cells.drop()
	cm.rings.drop()
	cm.sketches.drop()
	*cm = cellMap{}
}

// len is the number of cells held.
func (cm *cellMap) len() int { return cm.n }

// at returns the cell of index i.
func (cm *cellMap) at(i uint32) *cell { return cm.cells.at(i) }

// get returns the cell of key k with hash h, or nil.
func (cm *cellMap) get(h uint64, k ckey) *cell {
	_, c := cm.find(h, k)
	return c
}

// find returns the index and cell of key k with hash h, or 0 and nil.
func (cm *cellMap) find(h uint64, k ckey) (uint32, *cell) {
	for i := cm.m.get(h); i != 0; {
		c := cm.cells.at(i)
		if cm.sameKey(c, k) {
			return i, c
		}
		i = c.next
	}
	return 0, nil
}

// newCell allocates an empty cell in no chain: its fields zero, but for
// the events past n (see cell.clear).
func (cm *cellMap) newCell() (uint32, *cell) {
	i := cm.cells.alloc()
	return i, cm.cells.at(i)
}

// touch records an access to the cells of hash h at the shard clock's
// tick (eviction's age: heads.sample).
func (cm *cellMap) touch(h uint64, tick uint32) { cm.m.touch(h, tick) }

// keyStr is cell c's key string. One kept in the cell is read through an
// unsafe string into it: valid while c is held, so a caller that keeps
// it longer copies it.
func (cm *cellMap) keyStr(c *cell) string {
	if c.long != 0 {
		return *cm.long.at(c.long)
	}
	return unsafe.String(&c.kb[0], int(c.klen))
}

// keyOf is cell c's key (its string as keyStr's).
func (cm *cellMap) keyOf(c *cell) ckey { return ckey{w: c.w, str: cm.keyStr(c), num: c.num} }

// sameKey reports whether cell c is the state of key k, with every NaN
// equal to every other, so a NaN key (which inputs refuse, but the store
// does not rely on that) has one cell rather than a new one per event.
// Small enough to inline into find: every lookup runs it.
func (cm *cellMap) sameKey(c *cell, k ckey) bool {
	if c.w != k.w || c.num != k.num && (c.num == c.num || k.num == k.num) {
		return false
	}
	if c.long != 0 {
		return *cm.long.at(c.long) == k.str
	}
	return int(c.klen) == len(k.str) && string(c.kb[:c.klen]) == k.str
}

// add makes cell i, in no chain, the cell of key k with hash h; k must
// not be held. A key of at most inlineKey bytes is copied into the cell;
// a longer one shares the string of a cell of the same key for another
// window, if there is one. It reports whether h was not held before (the
// shard's sweep order then needs an entry for it).
func (cm *cellMap) add(h uint64, k ckey, i uint32) (newHash bool) {
	head := cm.m.get(h)
	c := cm.cells.at(i)
	c.w, c.num = k.w, k.num
	if n := len(k.str); n <= inlineKey {
		c.klen = uint8(copy(c.kb[:], k.str))
	} else {
		str := k.str
		for o := head; o != 0; o = cm.cells.at(o).next {
			if oc := cm.cells.at(o); oc.long != 0 && *cm.long.at(oc.long) == str {
				str = *cm.long.at(oc.long)
				break
			}
		}
		c.long = cm.long.alloc()
		*cm.long.at(c.long) = str
	}
	c.next = head
	cm.m.set(h, i, 0) // a new hash's tick: the caller touches it next
	cm.n++
	return head == 0
}

// unlink removes cell i from the chain of hash h, which holds it; the
// cell stays allocated (free releases it).
func (cm *cellMap) unlink(h uint64, i uint32) {
	c := cm.cells.at(i)
	if head := cm.m.get(h); head == i {
		if c.next != 0 {
			cm.m.set(h, c.next, 0) // h is held: its tick stays
		} else {
			cm.m.del(h)
		}
	} else {
		prev := cm.cells.at(head)
		for prev.next != i {
			prev = cm.cells.at(prev.next)
		}
		prev.next = c.next
	}
	c.next = 0
	cm.n--
}

// unlinkAll removes hash h and every cell of its chain from the table,
// calling fn with each cell (in no chain by then; fn frees it, or a cut
// keeps it as its image). It returns how many cells it removed.
func (cm *cellMap) unlinkAll(h uint64, fn func(i uint32)) int {
	i := cm.m.get(h)
	cm.m.del(h)
	n := 0
	for i != 0 {
		c := cm.cells.at(i)
		next := c.next
		c.next = 0
		cm.n--
		n++
		fn(i)
		i = next
	}
	return n
}

// free releases cell i (0: none), in no chain, with its ring, sketch and
// long key.
func (cm *cellMap) free(i uint32) {
	if i == 0 {
		return
	}
	c := cm.cells.at(i)
	cm.rings.release(c.ring)
	cm.sketches.release(c.sketch)
	cm.long.release(c.long)
	c.clear()
	cm.cells.recycle(i)
}

// adopt copies cell i of src (0: none), with its ring and sketch, into a
// new cell of cm in no chain, and returns its index (0 for 0). src may be
// cm.
func (cm *cellMap) adopt(src *cellMap, i uint32) uint32 {
	if i == 0 {
		return 0
	}
	j, d := cm.newCell()
	*d = *src.cells.at(i) // its next is stale until add sets it; an image has none
	if d.ring != 0 {
		r := cm.rings.alloc()
		*cm.rings.at(r) = *src.rings.at(d.ring)
		d.ring = r
	}
	if d.sketch != 0 {
		k := cm.sketches.alloc()
		*cm.sketches.at(k) = *src.sketches.at(d.sketch)
		d.sketch = k
	}
	// No key of its own: an image's is the cut's map key, and add sets a
	// restored cell's. Keeping src's index would free src's string with it.
	d.long = 0
	return j
}

// bytes estimates the memory cm holds: its cells, a table entry per slot
// (which one key's cells of neighbouring windows share) and each string
// of a key too long for its cell once, however many cells share it.
func (cm *cellMap) bytes() int {
	n := 0
	cm.m.each(func(_ uint64, head uint32) bool {
		n += tableEntryBytes
		for i := head; i != 0; {
			c := cm.cells.at(i)
			n += c.bytes()
			if c.long != 0 && !cm.sharedBefore(head, i) {
				n += len(*cm.long.at(c.long))
			}
			i = c.next
		}
		return true
	})
	return n
}

// sharedBefore reports whether a cell ahead of cell i in the chain from
// head holds the same long key string as i.
func (cm *cellMap) sharedBefore(head, i uint32) bool {
	str := *cm.long.at(cm.cells.at(i).long)
	for o := head; o != i; o = cm.cells.at(o).next {
		if oc := cm.cells.at(o); oc.long != 0 && unsafe.StringData(*cm.long.at(oc.long)) == unsafe.StringData(str) {
			return true
		}
	}
	return false
}

// holds reports whether a key with hash h is held.
func (cm *cellMap) holds(h uint64) bool { return cm.m.get(h) != 0 }

// dropIdle removes and frees the cells with hash h that idle reports
// idle, and returns how many it removed and whether any with hash h
// remain.
func (cm *cellMap) dropIdle(h uint64, idle func(*cell) bool) (dropped int, live bool) {
	for i := cm.m.get(h); i != 0; {
		c := cm.cells.at(i)
		next := c.next
		if idle(c) {
			cm.unlink(h, i)
			cm.free(i)
			dropped++
		} else {
			live = true
		}
		i = next
	}
	return dropped, live
}

// each calls fn with every cell, its index and its key's hash until fn
// returns false. The walk starts at a random slot of the table. fn must
// not add or remove cells.
func (cm *cellMap) each(fn func(h uint64, i uint32, c *cell) bool) {
	cm.m.each(func(h uint64, head uint32) bool {
		for i := head; i != 0; {
			c := cm.cells.at(i)
			if !fn(h, i, c) {
				return false
			}
			i = c.next
		}
		return true
	})
}

// windowBlock is how many neighbouring window ids share their keys'
// hashes (see cellMap).
const windowBlock = 8

// keyHash is key k's hash in store s: seeded per store through the string
// part, which every key has (a number key's is the empty string's), and
// the same for 0 and -0 and for every NaN, as sameKey requires. Windows
// of one block of windowBlock ids hash a key alike (see cellMap).
func (s *Store) keyHash(k ckey) uint64 {
	num := k.num
	switch {
	case num == 0:
		num = 0
	case num != num:
		num = math.NaN()
	}
	return mix(maphash.String(s.seed, k.str) ^ mix(math.Float64bits(num)^uint64(k.w/windowBlock)<<32))
}
