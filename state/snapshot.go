package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/riskforge/riskforge/windows"
)

// Snapshot writes the embedded store to state.snapshot.path atomically:
// into a temporary file in the same directory, fsync, rename over the old
// snapshot, fsync the directory. A crash at any point leaves the previous
// snapshot or the new one, never a mix. With an audit log, the snapshot
// is a consistent cut (windows.Store.BeginCut) that records the log
// position to replay from and the cut's generation, and it is published
// only once the records of every call it holds are durable.
func (b *Backend) Snapshot() error {
	path := b.cfg.Snapshot.Path
	if path == "" {
		return nil
	}
	b.snapMu.Lock()
	defer b.snapMu.Unlock()
	err := b.writeSnapshot(path)
	if err != nil {
		b.snapFailures.Add(1)
		return err
	}
	b.snapshots.Add(1)
	return nil
}

func (b *Backend) writeSnapshot(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// pos is the log's durable position before the cut: every record
	// of a call the cut does not hold is appended after the cut began,
	// so at pos or later. Replay from pos also reads records the cut
	// holds (those appended but not yet durable, and stragglers); their
	// window_gen is at most the cut's, and replay skips them.
	// waiting counts the records at or after pos appended before the cut
	// began: the snapshot holds them and a replay skips them (logged, so
	// an operator, and the kill -9 test, can see the filter at work).
	var pos, held, waiting uint64
	if b.alog != nil {
		pos = b.alog.Durable()
		waiting = b.alog.Next() - pos
	}
	cut, err := b.mem.BeginCut(windows.CutWait)
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if b.alog != nil {
		held = b.alog.Next() // the calls the cut holds have all appended their records
	}
	info, err := cut.Write(f, pos)
	if err == nil && b.alog != nil {
		if err = b.alog.WaitDurable(held); err != nil {
			err = fmt.Errorf("the audit records of the calls it holds are not durable: %w", err)
		}
	}
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
	b.logger.Info("window snapshot written", "path", path, "cells", info.Cells, "windows", info.Windows,
		"audit_position", info.Position, "generation", info.Gen, "held_records_after_position", waiting)
	return err
}

// Restore loads state.snapshot.path into the embedded store and, with an
// audit log, re-applies the window observations of the records written
// after the snapshot's cut (resolve finds each record's windows). Call it
// once, after the first policies are bound (their windows must be
// registered to be found) and before serving. A missing file is a first
// start. A corrupt or incompatible one is logged, counted and skipped:
// riskd starts with empty windows rather than not at all, and never with
// half a snapshot; with an audit log it then replays the whole log.
func (b *Backend) Restore(resolve Resolver) {
	path := b.cfg.Snapshot.Path
	if b.redis != nil {
		if b.alog != nil {
			b.logger.Info("window replay: not needed, windows are kept in Redis")
		}
		return
	}
	if path == "" {
		return
	}
	info, ok := b.restoreFile(path)
	if b.alog == nil {
		return
	}
	from, gen := info.Position, info.Gen
	if !ok {
		from, gen = 0, 0
	}
	res := b.replay(from, gen, resolve)
	res.FullFrom = !ok
	b.replayed.Store(&res)
	args := []any{"from", res.From, "snapshot_generation", res.Gen, "records", res.Records, "applied", res.Applied,
		"events", res.Events, "skipped_in_snapshot", res.Held, "skipped_without_generation", res.NoGen,
		"skipped_version_not_loaded", res.Unknown, "seconds", res.Seconds, "whole_log", res.FullFrom}
	if res.Err != nil {
		b.logger.Error("window replay FAILED: windows miss the audit records after the one named", append(args, "err", res.Err.Error())...)
		return
	}
	b.logger.Info("window replay done", args...)
}

// restoreFile loads the snapshot; ok is false when there was none to use.
func (b *Backend) restoreFile(path string) (windows.SnapshotInfo, bool) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		b.logger.Info("no window snapshot to restore", "path", path)
		return windows.SnapshotInfo{}, false
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
		b.logger.Error("window snapshot skipped; starting with empty windows", "path", path, "err", err.Error())
		return windows.SnapshotInfo{}, false
	}
	b.restored.Store(res)
	b.logger.Info("window snapshot restored", "path", path, "cells", res.info.Cells,
		"skipped_cells", res.info.Skipped, "taken", res.info.Taken, "audit_position", res.info.Position, "generation", res.info.Gen)
	return res.info, true
}
