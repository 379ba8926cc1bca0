package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureRecords = 1000

// fixture writes a 1,000-record log in one segment, with one checkpoint
// covering all of it, and returns the directory, the segment bytes and
// the frame offsets (plus the end). Two of the records are dictionaries
// (at 0 and 501), which the others refer to.
func fixture(t *testing.T) (string, []byte, []int) {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir, SigningKey: testKey, CheckpointInterval: 1 << 40, Sync: SyncNone})
	a, b := NewDict([]byte(`{"kind":"policy","policy":"a"}`)), NewDict([]byte(`{"kind":"policy","policy":"b"}`))
	for i := range fixtureRecords - 2 {
		d := a
		if i >= 500 {
			d = b
		}
		l.AppendRef(fmt.Sprintf("r%d", i), d, body(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, segmentName(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for off := 0; off < len(data); {
		offs = append(offs, off)
		_, size, err := readFrame(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += size
	}
	if len(offs) != fixtureRecords {
		t.Fatalf("%d frames", len(offs))
	}
	if _, err := Verify(dir, &testKey.PublicKey); err != nil {
		t.Fatalf("the fixture does not verify: %v", err)
	}
	fixtureDir = dir
	return dir, data, append(offs, len(data))
}

func writeSegment(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, segmentName(1, 0)), data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestTamperEveryBitFlip flips every bit of the 1,000-record fixture. For
// speed the verifier resumes at the flipped record with the state it had
// there (the bytes before it are untouched, so a run from the start would
// reach the same state); 200 random flips, and every third bit of the
// first and last record, also run the whole Verify on
// disk.
func TestTamperEveryBitFlip(t *testing.T) {
	dir, data, offs := fixture(t)
	seg := Segment{Seq: 1, Name: segmentName(1, 0)}
	// The checker's state at the start of every record.
	type state struct {
		next     uint64
		prev     Hash
		havePrev bool
		dicts    dictTable
	}
	states := make([]state, len(offs))
	ck := &chainCheck{havePrev: true}
	for i := range fixtureRecords {
		states[i] = state{ck.next, ck.prev, ck.havePrev, maps.Clone(ck.dicts)}
		if err := ck.segment(seg, data[:offs[i+1]], offs[i]); err != nil {
			t.Fatal(err)
		}
	}
	flips, missed := 0, 0
	rec := 0
	for bit := range len(data) * 8 {
		pos := bit / 8
		for pos >= offs[rec+1] {
			rec++
		}
		data[pos] ^= 1 << (bit % 8)
		st := states[rec]
		c := &chainCheck{next: st.next, prev: st.prev, havePrev: st.havePrev, dicts: maps.Clone(st.dicts)}
		if err := c.segment(seg, data, offs[rec]); err == nil {
			missed++
			if missed < 5 {
				t.Errorf("bit %d (record %d) flipped: verify passes", bit, rec)
			}
		}
		data[pos] ^= 1 << (bit % 8)
		flips++
	}
	if missed > 0 {
		t.Fatalf("%d of %d bit flips not found", missed, flips)
	}
	t.Logf("%d bit flips over %d bytes: all found", flips, len(data))

	full := func(bit int) {
		data[bit/8] ^= 1 << (bit % 8)
		writeSegment(t, dir, data)
		data[bit/8] ^= 1 << (bit % 8)
		_, err := Verify(dir, &testKey.PublicKey)
		var ve *VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("bit %d: full verify: %v", bit, err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		full(r.IntN(len(data) * 8))
	}
	for bit := 0; bit < offs[1]*8; bit += 3 {
		full(bit)
	}
	for bit := offs[fixtureRecords-1] * 8; bit < len(data)*8; bit += 3 {
		full(bit)
	}
}

// TestTamperTailRecovers: every truncation offset and every bit flip of
// the last record is found by Verify, and Open then recovers the log
// (torn tail cut, kept in a .broken file) without error; the checkpoint
// still shows that a record was lost.
func TestTamperTailRecovers(t *testing.T) {
	_, data, offs := fixture(t)
	last := offs[fixtureRecords-1]
	check := func(t *testing.T, what string, damaged []byte) {
		dir, _, _ := fixture2(t, data)
		writeSegment(t, dir, damaged)
		if _, err := Verify(dir, &testKey.PublicKey); err == nil {
			t.Fatalf("%s: verify passes", what)
		}
		l, err := Open(Options{Dir: dir, SigningKey: testKey})
		if err != nil {
			t.Fatalf("%s: start refused: %v", what, err)
		}
		if n, _ := l.Head(); n != fixtureRecords-1 {
			t.Fatalf("%s: %d records after recovery", what, n)
		}
		l.Close()
		broken, err := os.ReadFile(filepath.Join(dir, segmentName(1, 0)+".broken"))
		if err != nil || !bytes.Equal(broken, damaged[last:]) {
			t.Fatalf("%s: .broken holds %d bytes (%v), want %d", what, len(broken), err, len(damaged)-last)
		}
		_, err = Verify(dir, &testKey.PublicKey)
		if err == nil || !strings.Contains(err.Error(), "removed from its end") {
			t.Fatalf("%s: after recovery verify says %v; want the checkpoint to show the lost record", what, err)
		}
	}
	for cut := last + 1; cut < len(data); cut++ {
		check(t, fmt.Sprintf("truncated at %d", cut), data[:cut])
	}
	for bit := last * 8; bit < len(data)*8; bit += 7 {
		d := bytes.Clone(data)
		d[bit/8] ^= 1 << (bit % 8)
		check(t, fmt.Sprintf("bit %d flipped", bit), d)
	}
	// Cut exactly at the last record's start: framing is clean, only the
	// checkpoint can tell.
	dir, _, _ := fixture2(t, data)
	writeSegment(t, dir, data[:last])
	if _, err := Verify(dir, &testKey.PublicKey); err == nil || !strings.Contains(err.Error(), "removed from its end") {
		t.Fatalf("last record cut at its boundary: %v", err)
	}
}

// fixture2 copies the fixture's directory (segment and checkpoints) so
// each case starts clean without rewriting 1,000 records.
func fixture2(t *testing.T, data []byte) (string, []byte, []int) {
	t.Helper()
	dir := t.TempDir()
	src := fixtureDir
	for _, f := range []string{checkpointLog, PublicKeyFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o640)
	}
	writeSegment(t, dir, data)
	return dir, data, nil
}

var fixtureDir string

func TestTamperDeleteAndSwap(t *testing.T) {
	dir, data, offs := fixture(t)
	rec := func(i int) []byte { return data[offs[i]:offs[i+1]] }
	cases := map[string][]byte{
		"record 500 deleted":        concat(data[:offs[500]], data[offs[501]:]),
		"record 0 deleted":          data[offs[1]:],
		"records 10 and 11 swapped": concat(data[:offs[10]], rec(11), rec(10), data[offs[12]:]),
		"records 0 and 999 swapped": concat(rec(999), data[offs[1]:offs[999]], rec(0)),
		"record 7 repeated":         concat(data[:offs[8]], rec(7), data[offs[8]:]),
	}
	for name, d := range cases {
		writeSegment(t, dir, d)
		_, err := Verify(dir, &testKey.PublicKey)
		var ve *VerifyError
		if !errors.As(err, &ve) {
			t.Errorf("%s: verify says %v", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// A forger who rewrites a record and fixes its CRC: the chain finds it
	// at the next record, the checkpoint at the last one.
	for _, i := range []int{500, fixtureRecords - 1} {
		d := forge(t, data, offs, i)
		writeSegment(t, dir, d)
		_, err := Verify(dir, &testKey.PublicKey)
		want := fmt.Sprintf("record %d ", i+1)
		if i == fixtureRecords-1 {
			want = "checkpoint"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("record %d rewritten with a valid CRC: verify says %v (want %q)", i, err, want)
		}
		t.Logf("record %d rewritten with a valid CRC: %v", i, err)
	}
	// Damage before the tail refuses to start, naming segment and offset.
	d := bytes.Clone(data)
	d[offs[500]+20] ^= 4
	writeSegment(t, dir, d)
	_, err := Open(Options{Dir: dir})
	want := fmt.Sprintf("%s offset %d", segmentName(1, 0), offs[500])
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "will not start") {
		t.Fatalf("start with damage in record 500: %v (want %q)", err, want)
	}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// forge changes record i's body ("i":N becomes "i":M, same length) and
// recomputes its CRC, as someone who knows the format would.
func forge(t *testing.T, data []byte, offs []int, i int) []byte {
	t.Helper()
	d := bytes.Clone(data)
	p := d[offs[i]+frameHeader : offs[i+1]]
	e, _, err := DecodeEnvelope(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(d[offs[i]:])
	body := p[e.HeaderLen:n]
	j := bytes.IndexByte(body, ':')
	body[j+1] = '0' + (body[j+1]-'0'+1)%10
	binary.LittleEndian.PutUint32(d[offs[i]+4:], crc32.Checksum(p[:n], castagnoli))
	if _, _, err := readFrame(d[offs[i]:]); err != nil {
		t.Fatalf("forged frame does not frame: %v", err)
	}
	return d
}
