package windows

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

type snapWindow struct {
	sig  string
	agg  aggKind
	over float64
}

type snapCell struct {
	w   uint64
	key string
	c   *cell
}

// snapshotBytes writes a snapshot in the layout of Cut.Write with a valid
// checksum, so a restore gets past the checksum to the record it tests.
func snapshotBytes(t *testing.T, windows []snapWindow, cells []snapCell) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(&buf, h))
	e := &enc{w: bw}
	e.bytes([]byte(snapshotMagic))
	for _, v := range []uint16{SnapshotVersion, exactEvents, ringBuckets, sketchBuckets, sketchP} {
		e.u16(v)
	}
	e.i64(0)
	e.i64(0)
	e.i64(1)
	e.uv(uint64(len(windows)))
	for _, w := range windows {
		e.str(w.sig)
		e.uv(uint64(w.agg))
		e.f64(w.over)
	}
	for _, c := range cells {
		e.bytes([]byte{1})
		e.uv(c.w)
		e.str(c.key)
		e.f64(0)
		e.cell(c.c, nil) // the cells tests write have no ring or sketch
	}
	e.bytes([]byte{0})
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		t.Fatal(e.err)
	}
	buf.Write(h.Sum(nil))
	return buf.Bytes()
}

// oneEvent is a cell holding one event at t=100.
func oneEvent() *cell { return &cell{last: 100, n: 1, ev: [exactEvents]event{{100, 1}}} }

// sameShard returns n string keys of m's first window that share key's
// shard in m's store.
func sameShard(m *Memory, key string, n int) []string {
	w := m.ids[0]
	want := m.st.keyHash(ckey{w: w, str: key}) % numShards
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := key + strconv.Itoa(i); m.st.keyHash(ckey{w: w, str: k})%numShards == want {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRestoreRefusesCellOfMissingWindow: a cell record naming a window
// the snapshot's table does not have (index = the table's length) is
// refused as corrupt, checksum or not.
func TestRestoreRefusesCellOfMissingWindow(t *testing.T) {
	m := testStore(Config{}, "count")
	sig := (*m.st.specs.Load())[0].sig
	for _, w := range []uint64{0, 1, 2} {
		data := snapshotBytes(t, []snapWindow{{sig, aggCount, 3600}}, []snapCell{{w, "a", oneEvent()}})
		_, err := testStore(Config{}, "count").st.RestoreSnapshot(bytes.NewReader(data))
		if w == 0 && err != nil {
			t.Errorf("window 0 of 1: %v", err)
		}
		if w > 0 && !errors.Is(err, ErrSnapshotCorrupt) {
			t.Errorf("window %d of 1: %v, want ErrSnapshotCorrupt", w, err)
		}
	}
}

// TestRestoreSkipsUnknownAndChangedWindows: cells of a window that is not
// registered, or whose aggregate or length changed since, are skipped and
// counted, and land in no window.
func TestRestoreSkipsUnknownAndChangedWindows(t *testing.T) {
	m := testStore(Config{}, "count", "sum")
	specs := *m.st.specs.Load()
	data := snapshotBytes(t, []snapWindow{
		{"gone|count|3600||", aggCount, 3600},
		{specs[0].sig, aggSum, 3600},   // count became sum
		{specs[0].sig, aggCount, 7200}, // 1h became 2h
		{specs[1].sig, aggSum, 3600},   // unchanged
	}, []snapCell{{0, "k", oneEvent()}, {1, "k", oneEvent()}, {2, "k", oneEvent()}, {3, "k", oneEvent()}})
	info, err := m.st.RestoreSnapshot(bytes.NewReader(data))
	if err != nil || info.Skipped != 3 || info.Cells != 1 || info.Windows != 4 {
		t.Fatalf("restore: %+v, %v; want 4 windows, 3 cells skipped, 1 restored", info, err)
	}
	k := vm.WindowKey{Str: "k"}
	if c, s := read(m, 0, k, 100), read(m, 1, k, 100); c != 0 || s != 1 {
		t.Errorf("count %v, sum %v after restore; want 0 (skipped) and 1", c, s)
	}
}

// TestRestoreWindowTableLimit: a snapshot may list up to 2^20 windows; a
// larger count is refused before the table is read.
func TestRestoreWindowTableLimit(t *testing.T) {
	head := snapshotBytes(t, nil, nil)
	head = head[:len(head)-sha256.Size-2] // up to the window count (uvarint 0) and the end byte
	for _, n := range []uint64{1 << 20, 1<<20 + 1} {
		data := binary.AppendUvarint(bytes.Clone(head), n)
		if n == 1<<20 {
			// Each entry: an empty signature, aggregate 0, length 0 (a
			// window no store registers); then no cells.
			data = append(data, make([]byte, 10*n)...)
			data = append(data, 0)
			sum := sha256.Sum256(data)
			data = append(data, sum[:]...)
		}
		info, err := New(Config{}).RestoreSnapshot(bytes.NewReader(data))
		if n == 1<<20 && (err != nil || info.Windows != 1<<20) {
			t.Errorf("%d windows: %+v, %v", n, info, err)
		}
		if n > 1<<20 && !errors.Is(err, ErrSnapshotCorrupt) {
			t.Errorf("%d windows: %v, want ErrSnapshotCorrupt", n, err)
		}
	}
}

// TestRestoreIntoFullStore: restored cells respect the key cap, evicting
// (and counting) as new keys do.
func TestRestoreIntoFullStore(t *testing.T) {
	m := testStore(Config{MaxKeys: numShards}, "count") // one key per shard
	sig := (*m.st.specs.Load())[0].sig
	keys := sameShard(m, "k", 3)
	var cells []snapCell
	for _, k := range keys {
		cells = append(cells, snapCell{0, k, oneEvent()})
	}
	info, err := m.st.RestoreSnapshot(bytes.NewReader(snapshotBytes(t, []snapWindow{{sig, aggCount, 3600}}, cells)))
	if err != nil || info.Cells != 3 {
		t.Fatalf("restore: %+v, %v", info, err)
	}
	if st := m.st.Stats(); st.Keys != 1 || st.Evicted != 2 {
		t.Errorf("three keys of one shard restored into a store of one key per shard: %+v", st)
	}
	checkPools(t, m.st)
}

// TestRestoredCellIsRecentlyUsed: a restored cell counts as just used, so
// a full shard evicts a key last used before the restore first.
func TestRestoredCellIsRecentlyUsed(t *testing.T) {
	m := testStore(Config{MaxKeys: 2 * numShards}, "count") // two keys per shard
	sig := (*m.st.specs.Load())[0].sig
	keys := sameShard(m, "k", 3)
	old, restored, newer := vm.WindowKey{Str: keys[0]}, vm.WindowKey{Str: keys[1]}, vm.WindowKey{Str: keys[2]}
	observe1(m, 0, old, 100, 1, "")
	data := snapshotBytes(t, []snapWindow{{sig, aggCount, 3600}}, []snapCell{{0, restored.Str, oneEvent()}})
	if _, err := m.st.RestoreSnapshot(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	observe1(m, 0, newer, 101, 1, "") // the shard is full: one key goes
	if o, r := read(m, 0, old, 101), read(m, 0, restored, 101); o != 0 || r != 1 {
		t.Errorf("after the eviction: old key %v, restored key %v; want 0 (evicted) and 1", o, r)
	}
}

// rawSnapshot is a snapshot whose window table and cells are body, with
// a valid header and checksum.
func rawSnapshot(t *testing.T, body []byte) []byte {
	t.Helper()
	head := snapshotBytes(t, nil, nil)
	data := append(bytes.Clone(head[:len(head)-sha256.Size-2]), body...)
	sum := sha256.Sum256(data)
	return append(data, sum[:]...)
}

// TestRestoreDecoding: varints of every length up to Go's ten bytes and
// strings up to 1 MiB are read; an eleventh varint byte, a longer string
// or more exact events than a cell keeps are refused, checksum or not.
func TestRestoreDecoding(t *testing.T) {
	oneWindow := append([]byte{1}, 0, 0) // one window: signature "", aggregate 0
	oneWindow = binary.LittleEndian.AppendUint64(oneWindow, math.Float64bits(3600))
	cellHead := func(key []byte) []byte { // a cell record of window 0 up to its state
		b := append([]byte{1, 0}, binary.AppendUvarint(nil, uint64(len(key)))...)
		b = append(b, key...)
		b = binary.LittleEndian.AppendUint64(b, 0)    // num key
		return binary.LittleEndian.AppendUint64(b, 0) // last
	}
	emptyCell := func(key []byte) []byte { return append(append(cellHead(key), 0), 0, 0) } // no events, ring, sketch
	tenByteZero := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"128 windows", append(binary.AppendUvarint(nil, 128), make([]byte, 128*10+1)...), true},
		{"a ten-byte varint", append(tenByteZero, 0), true},
		{"an eleven-byte varint", append(append(tenByteZero[:9:9], 0x80, 0x00), 0), false},
		{"a key of 1 MiB", append(append(oneWindow, emptyCell(make([]byte, 1<<20))...), 0), true},
		{"a key of 1 MiB + 1", append(append(oneWindow, emptyCell(make([]byte, 1<<20+1))...), 0), false},
		{"eight exact events", append(append(append(oneWindow, cellHead(nil)...), append([]byte{8}, append(make([]byte, 8*16), 0, 0)...)...), 0), true},
		{"nine exact events", append(append(append(oneWindow, cellHead(nil)...), 9), 0), false},
	} {
		info, err := New(Config{}).RestoreSnapshot(bytes.NewReader(rawSnapshot(t, c.body)))
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrSnapshotCorrupt) {
			t.Errorf("%s: %+v, %v; want ErrSnapshotCorrupt", c.name, info, err)
		}
	}
}

// TestRestoreOneKeyOfTwoWindows: a restored key's cells of two windows of
// one block share their slot's single order entry, as observed ones do.
func TestRestoreOneKeyOfTwoWindows(t *testing.T) {
	m := testStore(Config{}, "count", "sum")
	specs := *m.st.specs.Load()
	windows := []snapWindow{{specs[0].sig, aggCount, 3600}, {specs[1].sig, aggSum, 3600}}
	data := snapshotBytes(t, windows, []snapCell{{0, "u", oneEvent()}, {1, "u", oneEvent()}})
	if info, err := m.st.RestoreSnapshot(bytes.NewReader(data)); err != nil || info.Cells != 2 {
		t.Fatalf("restore: %+v, %v", info, err)
	}
	h := m.st.keyHash(ckey{w: m.ids[0], str: "u"})
	if n := countHash(m.st.shards[h%numShards].order, h); n != 1 || m.Keys() != 2 {
		t.Errorf("two windows' cells of one key restored: %d order entries, %d keys; want 1 and 2", n, m.Keys())
	}
	checkPools(t, m.st)
}

// TestRestoreReplacesHeldKey: restoring a key the store already holds
// replaces its cell rather than adding a second one.
func TestRestoreReplacesHeldKey(t *testing.T) {
	m := testStore(Config{}, "count")
	sig := (*m.st.specs.Load())[0].sig
	u := vm.WindowKey{Str: "u"}
	for i := range 5 {
		observe1(m, 0, u, 100+float64(i), 1, "")
	}
	data := snapshotBytes(t, []snapWindow{{sig, aggCount, 3600}}, []snapCell{{0, "u", oneEvent()}})
	if _, err := m.st.RestoreSnapshot(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := read(m, 0, u, 104); got != 1 || m.Keys() != 1 {
		t.Errorf("after restoring a held key: count %v, %d keys; want the snapshot's 1 and one key", got, m.Keys())
	}
	checkPools(t, m.st)
}

// TestRestoreLongKey: a key too long for its cell comes back from a
// snapshot with its string (restore copies it into the store's own
// pool), so the restored cell is found by the key and counts on.
func TestRestoreLongKey(t *testing.T) {
	long := vm.WindowKey{Str: "customer-" + strconv.Itoa(1e15) + "@example.com"} // over inlineKey bytes
	m := testStore(Config{}, "count")
	for i := range 3 {
		observe1(m, 0, long, 100+float64(i), 1, "")
	}
	var buf bytes.Buffer
	if _, err := m.st.WriteSnapshot(&buf, 0); err != nil {
		t.Fatal(err)
	}
	r := testStore(Config{}, "count")
	if _, err := r.st.RestoreSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if got := observe1(r, 0, long, 103, 1, ""); got != 4 || r.Keys() != 1 {
		t.Fatalf("restored long key: count %v with %d keys, want 4 and 1", got, r.Keys())
	}
	checkPools(t, r.st)
}
