package windows

import (
	"hash/maphash"
	"math"
	"unsafe"
)

// cellMap is one shard's cells by key. Its Go map is keyed by a seeded
// 64-bit hash of the key rather than by the key: a slot is 16 bytes
// instead of 40 and a probe compares one word, so a lookup in a store far
// larger than the CPU's caches touches fewer cache lines (the map's group,
// then the cell, whose first line holds the key for the exact comparison).
// Keys whose hashes collide chain through cell.next; the hash is seeded
// per store, so no client can choose keys that share one.
//
// One key's cells of neighbouring windows (ids in one block of
// windowBlock) share a hash on purpose: a policy usually keeps several
// windows on one key (count and sum by user_id), and a decision observes
// them one after the other, so the second finds the map's group, the
// shard's lock and the chain already in the CPU's cache instead of
// missing on each again. A key too long to keep in its cells (see
// inlineKey) has one copy of its string, which they share. A chain is
// therefore at most windowBlock cells long, plus true collisions.
type cellMap struct {
	m map[uint64]*cell
	n int
}

func newCellMap() cellMap { return cellMap{m: map[uint64]*cell{}} }

// len is the number of cells held.
func (cm *cellMap) len() int { return cm.n }

// get returns the cell of key k with hash h, or nil.
func (cm *cellMap) get(h uint64, k ckey) *cell {
	for c := cm.m[h]; c != nil; c = c.next {
		if sameKey(c.key, k) {
			return c
		}
	}
	return nil
}

// add inserts c as the cell of key k with hash h; k must not be held.
// A key of at most inlineKey bytes is copied into the cell; a longer one
// shares the string of a cell of the same key for another window, if
// there is one. It reports whether h was not held before (the shard's
// sweep order then needs an entry for it).
func (cm *cellMap) add(h uint64, k ckey, c *cell) (newHash bool) {
	head := cm.m[h]
	if n := len(k.str); n <= inlineKey {
		copy(c.kb[:], k.str)
		k.str = unsafe.String(&c.kb[0], n) // kb is never written again
	} else {
		for o := head; o != nil; o = o.next {
			if o.key.str == k.str {
				k.str = o.key.str
				break
			}
		}
	}
	c.key, c.next = k, head
	cm.m[h] = c
	cm.n++
	return head == nil
}

// set makes c the cell of key k with hash h, replacing the one held.
func (cm *cellMap) set(h uint64, k ckey, c *cell) {
	cm.del(h, k)
	cm.add(h, k, c)
}

// del removes key k with hash h, if held.
func (cm *cellMap) del(h uint64, k ckey) {
	var prev *cell
	for c := cm.m[h]; c != nil; prev, c = c, c.next {
		if sameKey(c.key, k) {
			cm.unlink(h, prev, c)
			return
		}
	}
}

// unlink removes cell c, which follows prev (nil: c is the head) in the
// chain of hash h.
func (cm *cellMap) unlink(h uint64, prev, c *cell) {
	switch {
	case prev != nil:
		prev.next = c.next
	case c.next != nil:
		cm.m[h] = c.next
	default:
		delete(cm.m, h)
	}
	c.next = nil
	cm.n--
}

// bytes estimates the memory cm holds: its cells, a map entry per slot
// (which one key's cells of neighbouring windows share) and each string
// of a key too long for its cell once, however many cells share it.
func (cm *cellMap) bytes() int {
	n := 0
	for _, head := range cm.m {
		n += mapEntryBytes
		for c := head; c != nil; c = c.next {
			n += c.bytes()
			if len(c.key.str) > inlineKey && !sharedBefore(head, c) {
				n += len(c.key.str)
			}
		}
	}
	return n
}

// sharedBefore reports whether a cell ahead of c in the chain from head
// holds c's key string.
func sharedBefore(head, c *cell) bool {
	for o := head; o != c; o = o.next {
		if unsafe.StringData(o.key.str) == unsafe.StringData(c.key.str) {
			return true
		}
	}
	return false
}

// holds reports whether a key with hash h is held.
func (cm *cellMap) holds(h uint64) bool { return cm.m[h] != nil }

// dropIdle removes the cells with hash h that idle reports idle, and
// returns how many it removed and whether any with hash h remain.
func (cm *cellMap) dropIdle(h uint64, idle func(*cell) bool) (dropped int, live bool) {
	var prev *cell
	for c := cm.m[h]; c != nil; {
		next := c.next
		if idle(c) {
			cm.unlink(h, prev, c)
			dropped++
		} else {
			prev, live = c, true
		}
		c = next
	}
	return dropped, live
}

// each calls fn with every cell and its key's hash until fn returns
// false. Go's map iteration starts at a random place, which evictOne's
// sampling relies on. fn must not add or remove cells.
func (cm *cellMap) each(fn func(h uint64, c *cell) bool) {
	for h, head := range cm.m {
		for c := head; c != nil; c = c.next {
			if !fn(h, c) {
				return
			}
		}
	}
}

// sameKey is key equality with every NaN equal to every other, so a NaN
// key (which inputs refuse, but the store does not rely on that) has one
// cell rather than a new one per event.
func sameKey(a, b ckey) bool {
	return a.w == b.w && a.str == b.str && (a.num == b.num || (a.num != a.num && b.num != b.num))
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
