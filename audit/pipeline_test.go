package audit

import (
	"errors"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"
)

// slowFailFS makes the first segment sync after Arm slow and failing;
// every other sync succeeds at once.
type slowFailFS struct {
	FS
	armed atomic.Bool
	hit   atomic.Bool
	delay time.Duration
}

var errSlow = errors.New("injected slow fsync failure")

func (f *slowFailFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return slowFailFile{file, f}, nil
}

type slowFailFile struct {
	File
	fs *slowFailFS
}

func (f slowFailFile) Sync() error {
	if f.fs.armed.Load() && f.fs.hit.CompareAndSwap(false, true) {
		time.Sleep(f.fs.delay)
		return errSlow
	}
	return f.File.Sync()
}

// TestPipelinedSyncsAcknowledgeInOrder: a batch written while the sync
// of the one before runs gets its own sync, which may finish first; it is
// still not acknowledged before the earlier batch, and when the earlier
// sync fails the later batch fails with it (its sync succeeding says
// nothing about the bytes the failed one lost).
func TestPipelinedSyncsAcknowledgeInOrder(t *testing.T) {
	ffs := &slowFailFS{FS: OS, delay: 300 * time.Millisecond}
	l := mustOpen(t, Options{Dir: t.TempDir(), FS: ffs, Sync: SyncAlways})
	defer l.Close()
	if err := l.Append("before", body(0))(); err != nil {
		t.Fatal(err)
	}
	ffs.armed.Store(true)
	first := l.Append("first", body(1))
	for !ffs.hit.Load() {
		time.Sleep(time.Millisecond) // the first batch's sync has started
	}
	start := time.Now()
	second := l.Append("second", body(2))
	err2 := second()
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("the second batch was answered after %v, before the first batch's sync ended", waited)
	}
	if err1 := first(); !errors.Is(err1, errSlow) {
		t.Fatalf("first batch: %v", err1)
	}
	if !errors.Is(err2, errSlow) {
		t.Fatalf("second batch, whose own sync succeeded, after the first failed: %v", err2)
	}
	if err := l.Append("after", body(3))(); !errors.Is(err, errSlow) {
		t.Fatalf("append after the failure: %v", err)
	}
}
