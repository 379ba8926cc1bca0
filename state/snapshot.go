package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Snapshot writes the embedded store to state.snapshot.path atomically:
// into a temporary file in the same directory, fsync, rename over the old
// snapshot, fsync the directory. A crash at any point leaves the previous
// snapshot or the new one, never a mix. position is recorded for the
// audit log: a restart can replay the decisions logged after it.
func (b *Backend) Snapshot(position string) error {
	path := b.cfg.Snapshot.Path
	if path == "" {
		return nil
	}
	b.snapMu.Lock()
	defer b.snapMu.Unlock()
	err := b.writeSnapshot(path, position)
	if err != nil {
		b.snapFailures.Add(1)
		return err
	}
	b.snapshots.Add(1)
	return nil
}

func (b *Backend) writeSnapshot(path, position string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	info, err := b.mem.WriteSnapshot(f, position)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		err = derr
	}
	b.lastSnap.Store(&info)
	b.log.Info("window snapshot written", "path", path, "cells", info.Cells, "windows", info.Windows)
	return err
}

// Restore loads state.snapshot.path into the embedded store; call it
// once, after the first policies are bound (their windows must be
// registered to be found). A missing file is a first start. A corrupt or
// incompatible one is logged, counted and skipped: riskd starts with
// empty windows rather than not at all, and never with half a snapshot.
func (b *Backend) Restore() {
	path := b.cfg.Snapshot.Path
	if path == "" || b.redis != nil {
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		b.log.Info("no window snapshot to restore", "path", path)
		return
	}
	res := &restoreResult{}
	if err == nil {
		res.info, err = b.mem.RestoreSnapshot(f)
		f.Close()
	}
	if err != nil {
		res.err = fmt.Errorf("%s: %w", path, err)
		b.restoreBad.Add(1)
		b.restored.Store(res)
		b.log.Error("window snapshot skipped; starting with empty windows", "path", path, "err", err.Error())
		return
	}
	b.restored.Store(res)
	b.log.Info("window snapshot restored", "path", path, "cells", res.info.Cells,
		"skipped_cells", res.info.Skipped, "taken", res.info.Taken, "position", res.info.Position)
}
