package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

var testKey = func() *gm.PrivateKey {
	k, err := gm.GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}()

func mustOpen(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func body(i int) []byte { return []byte(fmt.Sprintf(`{"i":%d}`, i)) }

// appendAll appends n records concurrently from 8 goroutines and waits
// for all of them.
func appendAll(t testing.TB, l *Log, from, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < from+n; i += 8 {
				if err := l.Append(fmt.Sprintf("req-%d", i), body(i))(); err != nil {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d appends failed", bad.Load())
	}
}

func ids(t testing.TB, dir string, kr *Keyring) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	if err := Scan(dir, kr, func(it *Item) error { got[it.RequestID] = it.Body; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendReopenVerify(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncBatch, SyncNone} {
		t.Run(string(pol), func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, Options{Dir: dir, Sync: pol, SigningKey: testKey, CheckpointInterval: 10 * time.Millisecond})
			appendAll(t, l, 0, 200)
			if n, _ := l.Head(); n != 200 {
				t.Fatalf("head %d", n)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, Options{Dir: dir, Sync: pol, SigningKey: testKey})
			appendAll(t, l, 200, 50)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(dir, &testKey.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Records != 250 || rep.Covered != 250 || rep.Checkpoints < 2 {
				t.Fatalf("report %+v", rep)
			}
			got := ids(t, dir, nil)
			for i := range 250 {
				if b := got[fmt.Sprintf("req-%d", i)]; !bytes.Equal(b, body(i)) {
					t.Fatalf("req-%d: body %q", i, b)
				}
			}
			other, _ := gm.GenerateKey()
			if _, err := Verify(dir, &other.PublicKey); err == nil || !strings.Contains(err.Error(), "not by the given key") {
				t.Fatalf("verify with another key: %v", err)
			}
		})
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	defer l.Close()
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
}

func TestSealedRecordsAndKeyRotation(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := gm.NewSM4Key(bytes.Repeat([]byte{1}, 16)), gm.NewSM4Key(bytes.Repeat([]byte{2}, 16))
	kr1, _ := NewKeyring(k1)
	l := mustOpen(t, Options{Dir: dir, Keyring: kr1})
	appendAll(t, l, 0, 20)
	l.Close()
	kr2, _ := NewKeyring(k2, k1) // rotate: seal with k2, still open k1
	l = mustOpen(t, Options{Dir: dir, Keyring: kr2})
	appendAll(t, l, 20, 20)
	l.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, segmentName(1, 0)))
	if bytes.Contains(raw, []byte(`{"i":`)) {
		t.Fatal("a sealed body is readable in the segment")
	}
	if _, err := Verify(dir, nil); err != nil {
		t.Fatalf("verify needs no key: %v", err)
	}
	got := ids(t, dir, kr2)
	for i := range 40 {
		if b := got[fmt.Sprintf("req-%d", i)]; !bytes.Equal(b, body(i)) {
			t.Fatalf("req-%d: %q", i, b)
		}
	}
	if sealed := ids(t, dir, nil); sealed["req-1"] != nil {
		t.Fatal("body opened without a key")
	}
	err := Scan(dir, kr1, func(*Item) error { return nil })
	if err == nil || !strings.Contains(err.Error(), k2.ID) {
		t.Fatalf("scan without the new key: %v", err)
	}
	// The header is the additional data: moving a sealed body to another
	// request id must not open.
	var payload []byte
	var env Envelope
	Scan(dir, nil, func(it *Item) error {
		if it.Index == 3 {
			payload, env = bytes.Clone(it.Payload), it.Envelope
		}
		return nil
	})
	payload[fixedHeader] ^= 1 // a request id byte
	env.RequestID = "x"
	if _, err := kr2.Open(&env, payload); err == nil {
		t.Fatal("a sealed body opened under a changed header")
	}
}

func TestRotationAndRetention(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir, SegmentBytes: 2048, Sync: SyncAlways})
	for i := range 300 {
		if err := l.Append(fmt.Sprintf("r%d", i), body(i))(); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs, _ := listSegments(OS, dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments", len(segs))
	}
	rep, err := Verify(dir, nil)
	if err != nil || rep.Records != 300 || rep.Segments != len(segs) {
		t.Fatalf("%+v %v", rep, err)
	}
	l = mustOpen(t, Options{Dir: dir, SegmentBytes: 2048, RetainBytes: 6000, Sync: SyncAlways})
	for i := 300; i < 400; i++ {
		l.Append(fmt.Sprintf("r%d", i), body(i))()
	}
	l.Close()
	rep, err = Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.First == 0 || rep.First+rep.Records != 400 || len(rep.Notes) == 0 {
		t.Fatalf("after retention: %+v", rep)
	}
	var total int64
	segs, _ = listSegments(OS, dir)
	for _, s := range segs[:len(segs)-1] {
		st, _ := os.Stat(s.path(dir))
		total += st.Size()
	}
	if total > 6000 {
		t.Fatalf("closed segments hold %d bytes, over the 6000 retained", total)
	}
}

func TestFsyncErrorStopsAcknowledgements(t *testing.T) {
	dir := t.TempDir()
	ffs := &FaultFS{FS: OS, SyncsOK: 5}
	var fatal atomic.Int64
	var fatalErr atomic.Value
	l := mustOpen(t, Options{Dir: dir, FS: ffs, Sync: SyncAlways, OnFatal: func(err error) { fatal.Add(1); fatalErr.Store(err) }})
	acked, refused := 0, 0
	for i := range 20 {
		if err := l.Append(fmt.Sprintf("r%d", i), body(i))(); err != nil {
			refused++
			if !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "no decision is acknowledged") {
				t.Fatalf("error %v", err)
			}
			continue
		}
		if refused > 0 {
			t.Fatal("an append was acknowledged after the log failed")
		}
		acked++
	}
	if acked != 5 || refused != 15 {
		t.Fatalf("acked %d refused %d", acked, refused)
	}
	if fatal.Load() != 1 || l.Err() == nil {
		t.Fatalf("OnFatal called %d times, Err %v", fatal.Load(), l.Err())
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close hides the failure")
	}
	// What was acknowledged is there.
	got := ids(t, dir, nil)
	for i := range acked {
		if got[fmt.Sprintf("r%d", i)] == nil {
			t.Fatalf("acknowledged r%d is missing", i)
		}
	}
}

func TestBadAppends(t *testing.T) {
	l := mustOpen(t, Options{Dir: t.TempDir()})
	defer l.Close()
	for _, id := range []string{"", strings.Repeat("x", 129), "a\nb"} {
		if err := l.Append(id, []byte("{}"))(); err == nil {
			t.Errorf("request id %q accepted", id)
		}
	}
	if err := l.Append("x", nil)(); err == nil {
		t.Error("empty body accepted")
	}
}

// TestFollowSeesNewRecordsAcrossSegments is tail -f: records written
// after Follow starts arrive, in order, across a rotation.
func TestFollowSeesNewRecordsAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir, SegmentBytes: 1024, Sync: SyncNone})
	defer l.Close()
	for i := range 5 {
		l.Append(fmt.Sprintf("r%d", i), body(i))()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, dir, nil, 3, 5*time.Millisecond, func(it *Item) error {
			got <- it.Index
			return nil
		})
	}()
	for i := 5; i < 60; i++ {
		l.Append(fmt.Sprintf("r%d", i), body(i))()
	}
	for want := uint64(3); want < 60; want++ {
		select {
		case idx := <-got:
			if idx != want {
				t.Fatalf("followed record %d, want %d", idx, want)
			}
		case <-ctx.Done():
			t.Fatalf("record %d never arrived", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(OS, dir); len(segs) < 3 {
		t.Fatalf("only %d segments: the test did not rotate", len(segs))
	}
}
