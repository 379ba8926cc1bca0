package audit

import (
	"fmt"
	"testing"
)

// TestScanFrom: ScanFrom reads the records from an index on, in order,
// across segments (skipping whole segments before it); after retention
// removed the oldest segments, from 0 reads from the oldest kept record
// and a from inside the removed part is an error.
func TestScanFrom(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, Sync: SyncNone, SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		if err := l.Append(fmt.Sprint("r", i), []byte(fmt.Sprintf(`{"i":%d,"pad":"................................................................"}`, i)))(); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Durable(); n != 60 {
		t.Fatalf("Durable() = %d after 60 acknowledged appends", n)
	}
	segs, _ := listSegments(OS, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test needs several", len(segs))
	}
	read := func(from uint64) ([]uint64, error) {
		var got []uint64
		err := l.ScanFrom(from, func(it *Item) error {
			if it.RequestID != fmt.Sprint("r", it.Index) {
				return fmt.Errorf("record %d has request id %s", it.Index, it.RequestID)
			}
			got = append(got, it.Index)
			return nil
		})
		return got, err
	}
	for _, from := range []uint64{0, 23, segs[2].First, 59, 60} {
		got, err := read(from)
		if err != nil || uint64(len(got)) != 60-from || (len(got) > 0 && got[0] != from) {
			t.Fatalf("ScanFrom(%d): %v, err %v", from, got, err)
		}
	}
	l.Close()

	// Retention removes the oldest segments at the next rotation.
	l, err = Open(Options{Dir: dir, Sync: SyncNone, SegmentBytes: 1024, RetainBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 60; i < 80; i++ {
		l.Append(fmt.Sprint("r", i), []byte(fmt.Sprintf(`{"i":%d,"pad":"................................................................"}`, i)))()
	}
	segs, _ = listSegments(OS, dir)
	oldest := segs[0].First
	if oldest == 0 {
		t.Fatal("retention removed nothing")
	}
	if got, err := read(0); err != nil || len(got) == 0 || got[0] != oldest {
		t.Fatalf("ScanFrom(0) after retention: %v, err %v; want from %d", got, err, oldest)
	}
	if _, err := read(1); err == nil {
		t.Fatalf("ScanFrom(1) with records 1..%d removed: no error", oldest-1)
	}
}
