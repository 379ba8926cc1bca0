package windows

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"time"
)

// The snapshot layout (little endian; strings are a uvarint length and
// bytes):
//
//	magic     "RFWS"
//	version   uint16 SnapshotVersion
//	layout    uint16 x4: exactEvents, ringBuckets, sketchBuckets, sketchP
//	taken     int64 Unix nanoseconds
//	position  uint64: the audit log index from which a restart replays
//	gen       uint64: the generation of the cut (records with a window_gen
//	          up to it are already in the snapshot)
//	windows   uvarint count, then per window: signature, aggregate, length
//	cells     per cell: byte 1, window index, key, state; then byte 0
//	checksum  SHA-256 of everything before it
//
// A reader verifies the checksum before it changes the store, so a torn,
// corrupt or foreign file is refused whole.

// SnapshotVersion is the snapshot format this build writes and reads.
const SnapshotVersion = 2

const snapshotMagic = "RFWS"

// ErrSnapshotIncompatible is returned for a snapshot of another format or
// cell layout; ErrSnapshotCorrupt for one that fails its checksum or
// cannot be decoded.
var (
	ErrSnapshotIncompatible = errors.New("snapshot: incompatible format")
	ErrSnapshotCorrupt      = errors.New("snapshot: corrupt")
)

// SnapshotInfo describes a written or restored snapshot.
type SnapshotInfo struct {
	Taken time.Time
	// Position is the caller's (the audit log index from which a restart
	// replays); Gen the generation of the cut: the snapshot holds every
	// store call of a generation up to Gen and none after.
	Position uint64
	Gen      uint64
	Windows  int
	Cells    int
	Skipped  int // restored cells of windows no loaded policy declares
}

// WriteSnapshot takes a cut (BeginCut) and writes it to w.
func (s *Store) WriteSnapshot(w io.Writer, position uint64) (SnapshotInfo, error) {
	c, err := s.BeginCut(CutWait)
	if err != nil {
		return SnapshotInfo{}, err
	}
	return c.Write(w, position)
}

// Write writes the cut to w and ends it. Shards are locked one at a time,
// so requests keep flowing; the snapshot holds exactly the calls of
// generations up to c.Gen (see cut.go). position is the caller's (the
// audit log index from which a restart replays) and is stored as given.
func (c *Cut) Write(w io.Writer, position uint64) (SnapshotInfo, error) {
	defer c.end()
	s := c.s
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<16)
	e := &enc{w: bw}
	specs := *s.specs.Load()
	info := SnapshotInfo{Taken: time.Now(), Position: position, Gen: c.Gen, Windows: len(specs)}
	e.bytes([]byte(snapshotMagic))
	for _, v := range []uint16{SnapshotVersion, exactEvents, ringBuckets, sketchBuckets, sketchP} {
		e.u16(v)
	}
	e.i64(info.Taken.UnixNano())
	e.i64(int64(position))
	e.i64(int64(c.Gen))
	e.uv(uint64(len(specs)))
	for _, r := range specs {
		e.str(r.sig)
		e.uv(uint64(r.agg))
		e.f64(r.over)
	}
	for i := range s.shards {
		c.eachCell(i, func(k ckey, cl *cell, cm *cellMap) {
			e.bytes([]byte{1})
			e.uv(uint64(k.w))
			e.str(k.str)
			e.f64(k.num)
			e.cell(cl, cm)
			info.Cells++
		})
	}
	e.bytes([]byte{0})
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		_, e.err = w.Write(h.Sum(nil))
	}
	return info, e.err
}

// RestoreSnapshot reads a snapshot written by WriteSnapshot and, only if
// all of it is sound, adds its cells to the store. Cells of windows the
// store has not registered (policies changed while riskd was down) are
// skipped and counted.
func (s *Store) RestoreSnapshot(r io.Reader) (SnapshotInfo, error) {
	h := sha256.New()
	d := &dec{r: bufio.NewReaderSize(r, 1<<16), h: h}
	var info SnapshotInfo
	if string(d.n(4)) != snapshotMagic {
		return info, fmt.Errorf("%w: not a window snapshot (bad magic)", ErrSnapshotIncompatible)
	}
	layout := [5]uint16{}
	for i := range layout {
		layout[i] = d.u16()
	}
	if d.err != nil {
		return info, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, d.err)
	}
	if want := [5]uint16{SnapshotVersion, exactEvents, ringBuckets, sketchBuckets, sketchP}; layout != want {
		return info, fmt.Errorf("%w: version/layout %v, this build reads %v", ErrSnapshotIncompatible, layout, want)
	}
	info.Taken = time.Unix(0, d.i64())
	info.Position = uint64(d.i64())
	info.Gen = uint64(d.i64())
	ids, err := s.snapshotWindows(d, &info)
	if err != nil {
		return info, err
	}
	// Cells are staged in a cellMap of their own (in no chain), and
	// copied into the store only once the whole snapshot checks out.
	var st cellMap
	defer st.drop() // its pools' regions, now rather than at a collection
	staged := map[ckey]uint32{}
	for d.err == nil {
		if d.n(1)[0] == 0 {
			break
		}
		w := d.uv()
		k := ckey{str: d.str(), num: d.f64()}
		c := d.cell(&st)
		if d.err != nil || w >= uint64(len(ids)) {
			return info, fmt.Errorf("%w: bad cell record", ErrSnapshotCorrupt)
		}
		if ids[w] < 0 {
			info.Skipped++
			continue
		}
		k.w = uint32(ids[w])
		staged[k] = c
	}
	sum := h.Sum(nil)
	if d.err != nil {
		return info, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, d.err)
	}
	var tail [sha256.Size]byte
	if _, err := io.ReadFull(d.r, tail[:]); err != nil || string(tail[:]) != string(sum) {
		return info, fmt.Errorf("%w: checksum mismatch", ErrSnapshotCorrupt)
	}
	for k, c := range staged {
		s.put(k, &st, c)
	}
	info.Cells = len(staged)
	return info, nil
}

// snapshotWindows maps the snapshot's windows to registered ids (-1: not
// registered here).
func (s *Store) snapshotWindows(d *dec, info *SnapshotInfo) ([]int, error) {
	n := d.uv()
	if d.err != nil || n > 1<<20 {
		return nil, fmt.Errorf("%w: bad window table", ErrSnapshotCorrupt)
	}
	info.Windows = int(n)
	ids := make([]int, n)
	s.regMu.Lock()
	defer s.regMu.Unlock()
	specs := *s.specs.Load()
	for i := range ids {
		sig, agg, over := d.str(), aggKind(d.uv()), d.f64()
		id, ok := s.ids[sig]
		if !ok || specs[id].agg != agg || specs[id].over != over {
			id = -1
		}
		ids[i] = id
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, d.err)
	}
	return ids, nil
}

// put makes a copy of cell i of src the cell of key k, replacing the
// one held.
func (s *Store) put(k ckey, src *cellMap, i uint32) {
	h := s.keyHash(k)
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.advance()
	if old, _ := sh.cells.find(h, k); old != 0 {
		sh.cells.unlink(h, old)
		sh.cells.free(old)
		// The hash is in the sweep order already.
	} else if sh.cells.len() >= s.maxPerShard {
		s.evicted.Add(uint64(s.evictOne(sh, h, 0)))
	}
	j := sh.cells.adopt(src, i)
	if sh.cells.add(h, k, j) {
		sh.order = append(sh.order, h)
	}
	sh.cells.touch(h, sh.tick)
}

type enc struct {
	w   *bufio.Writer
	err error
	b   [binary.MaxVarintLen64]byte
}

func (e *enc) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *enc) u16(v uint16) { e.bytes(binary.LittleEndian.AppendUint16(e.b[:0], v)) }
func (e *enc) i64(v int64)  { e.bytes(binary.LittleEndian.AppendUint64(e.b[:0], uint64(v))) }
func (e *enc) f64(v float64) {
	e.bytes(binary.LittleEndian.AppendUint64(e.b[:0], math.Float64bits(v)))
}
func (e *enc) uv(v uint64) { e.bytes(binary.AppendUvarint(e.b[:0], v)) }
func (e *enc) str(s string) {
	e.uv(uint64(len(s)))
	e.bytes([]byte(s))
}

// cell writes cell c, whose ring and sketch are in cm.
func (e *enc) cell(c *cell, cm *cellMap) {
	e.f64(c.last)
	e.uv(uint64(c.n))
	for _, ev := range c.ev[:c.n] {
		e.f64(ev.t)
		e.f64(ev.v)
	}
	if c.ring == 0 {
		e.bytes([]byte{0})
	} else {
		r := cm.rings.at(c.ring)
		e.bytes([]byte{1})
		e.f64(r.width)
		for _, b := range r.b {
			e.i64(b.idx)
			e.f64(b.n)
			e.f64(b.sum)
			e.f64(b.min)
			e.f64(b.max)
		}
	}
	if c.sketch == 0 {
		e.bytes([]byte{0})
		return
	}
	sk := cm.sketches.at(c.sketch)
	e.bytes([]byte{1})
	e.f64(sk.width)
	for i := range sk.s {
		sl := &sk.s[i]
		e.i64(sl.idx)
		if sl.set {
			e.bytes([]byte{1})
		} else {
			e.bytes([]byte{0})
		}
		e.bytes(sl.reg[:])
	}
}

type dec struct {
	r   *bufio.Reader
	h   hash.Hash
	err error
	buf [512]byte
}

// n reads k bytes (k <= len(buf)) into the hash; after an error it
// returns zeros.
func (d *dec) n(k int) []byte {
	b := d.buf[:k]
	if d.err != nil {
		clear(b)
		return b
	}
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
		clear(b)
		return b
	}
	d.h.Write(b)
	return b
}
func (d *dec) u16() uint16   { return binary.LittleEndian.Uint16(d.n(2)) }
func (d *dec) i64() int64    { return int64(binary.LittleEndian.Uint64(d.n(8))) }
func (d *dec) f64() float64  { return math.Float64frombits(binary.LittleEndian.Uint64(d.n(8))) }
func (d *dec) readByte() int { return int(d.n(1)[0]) }
func (d *dec) uv() uint64 {
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		b := d.readByte()
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
	d.fail("bad varint")
	return 0
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *dec) str() string {
	n := d.uv()
	if n > 1<<20 {
		d.fail("string too long")
		return ""
	}
	out := make([]byte, 0, n)
	for n > 0 && d.err == nil {
		k := min(int(n), len(d.buf))
		out = append(out, d.n(k)...)
		n -= uint64(k)
	}
	return string(out)
}

// cell reads a cell into a new one of cm (in no chain) and returns its
// index.
func (d *dec) cell(cm *cellMap) uint32 {
	idx, c := cm.newCell()
	c.last = d.f64()
	n := d.uv()
	if n > exactEvents {
		d.fail("too many exact events")
		return idx
	}
	c.n = uint8(n)
	for i := range c.ev[:n] {
		c.ev[i] = event{d.f64(), d.f64()}
	}
	if d.readByte() == 1 {
		c.ring = cm.rings.alloc()
		r := cm.rings.at(c.ring)
		r.width = d.f64()
		for i := range r.b {
			r.b[i] = bucket{idx: d.i64(), n: d.f64(), sum: d.f64(), min: d.f64(), max: d.f64()}
		}
	}
	if d.readByte() == 1 {
		c.sketch = cm.sketches.alloc()
		sk := cm.sketches.at(c.sketch)
		sk.width = d.f64()
		for i := range sk.s {
			sl := &sk.s[i]
			sl.idx = d.i64()
			sl.set = d.readByte() == 1
			copy(sl.reg[:], d.n(sketchRegisters))
		}
	}
	return idx
}
