package audit

import (
	"testing"
	"time"
)

// TestAppendAllocs guards the append path's allocations: handing a
// record to the log allocates nothing (the body is copied into the
// batch's buffer, and every record of a batch gets the batch's one wait
// function), and framing, chaining and writing a group allocates only
// what tjfoc's SM3 does per record (it copies what it hashes and pads
// into a new slice: 2) plus a few objects per group. Before these cuts:
// 1 allocation per append (the wait closure) and 9 for a group of one
// (the record's envelope escaped). A regression guard:
// lower the limits when a change cuts allocations, never raise them
// silently.
func TestAppendAllocs(t *testing.T) {
	dict := NewDict([]byte(`{"kind":"policy"}`))
	body := AppendCompact(nil, loanCompact())
	rid := "2f1c7a58-9d0e-4b7f-8a53-6c1d2e3f4a5b" // a generated request id: longer than 32 bytes

	// Appends alone: a batch interval of an hour keeps the writer from
	// taking the records while they are counted, once it has synced the
	// first record (which it does at once).
	l := mustOpen(t, Options{Dir: t.TempDir(), Sync: SyncBatch, BatchInterval: time.Hour, BatchRecords: 1 << 30})
	if err := l.AppendRef(rid, dict, body)(); err != nil {
		t.Fatal(err)
	}
	var wait func() error
	appendOne := func() { wait = l.AppendRef(rid, dict, body) }
	if a := testing.AllocsPerRun(2000, appendOne); a != 0 {
		t.Errorf("AppendRef: %.2f allocations per record, want 0", a)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("a record appended before Close: %v", err)
	}

	// The whole path, one record per group (the worst case: every group's
	// own objects count against its one record): append, frame, chain,
	// write, wait.
	l = mustOpen(t, Options{Dir: t.TempDir(), Sync: SyncNone})
	defer l.Close()
	roundTrip := func() {
		if err := l.AppendRef(rid, dict, body)(); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	const sm3Allocs, perGroup = 2, 5 // the group: its batch, channel and wait function; its syncing and channel
	if a := testing.AllocsPerRun(500, roundTrip); a > sm3Allocs+perGroup {
		t.Errorf("append and wait, one record per group: %.2f allocations, want <= %d", a, sm3Allocs+perGroup)
	} else {
		t.Logf("append and wait, one record per group: %.2f allocations", a)
	}
}
