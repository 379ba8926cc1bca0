// Package state owns riskd's velocity-window state as a service: it opens
// the configured backend (the embedded windows.Store, or Redis with an
// embedded fallback), binds each loaded program's windows to it, sweeps
// idle keys, writes snapshots periodically and on shutdown, restores the
// last one at start, and reports the backend's health and counters. The
// server plugs it in; docs/STATE.md is the operator's guide.
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
	"github.com/riskforge/riskforge/windows/redisstore"
)

// Backend is the window state of one riskd process.
type Backend struct {
	cfg    config.State
	logger *slog.Logger
	alog   Log               // the audit log snapshots cut against; nil: none
	mem    *windows.Store    // the embedded store (Redis's fallback in redis mode)
	redis  *redisstore.Store // nil unless state.backend is redis

	snapMu                              sync.Mutex // one snapshot write at a time
	snapshots, snapFailures, restoreBad atomic.Uint64
	lastSnap                            atomic.Pointer[windows.SnapshotInfo]
	restored                            atomic.Pointer[restoreResult]
	replayed                            atomic.Pointer[ReplayResult]
}

type restoreResult struct {
	info windows.SnapshotInfo
	err  error
}

// Open builds the backend cfg names. A Redis backend that cannot be
// reached is not an error: requests read the fallback until it can.
func Open(cfg config.State, log *slog.Logger) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{cfg: cfg, logger: log, mem: windows.New(windows.Config{MaxKeys: cfg.MaxKeys})}
	if cfg.Backend == "redis" {
		opts, err := redisOptions(cfg.Redis)
		if err != nil {
			return nil, fmt.Errorf("state.redis: %w", err)
		}
		r, err := redisstore.Open(opts)
		if err != nil {
			return nil, fmt.Errorf("state.redis: %w", err)
		}
		b.redis = r
	}
	return b, nil
}

// SetLog gives the backend the audit log: snapshots then record their
// position in it and Restore replays the records after the snapshot.
// Call it before Restore and before serving.
func (b *Backend) SetLog(l Log) { b.alog = l }

// Bind returns the WindowStore a program's windows use. Windows with the
// same lane and signature share state (see windows.Signature).
func (b *Backend) Bind(prog *vm.Program, lane string) (vm.WindowStore, error) {
	local, err := b.mem.Bind(prog, lane)
	if err != nil {
		return nil, err
	}
	if b.redis == nil {
		return local, nil
	}
	return b.redis.Bind(prog, lane, local)
}

// Run sweeps idle keys every state.sweep_interval and writes a snapshot
// every state.snapshot.interval until ctx ends. swept is told how many
// keys each sweep dropped.
func (b *Backend) Run(ctx context.Context, swept func(int)) {
	sweep := time.NewTicker(b.cfg.SweepInterval.D())
	defer sweep.Stop()
	var snap <-chan time.Time
	if b.cfg.Snapshot.Path != "" && b.redis == nil {
		t := time.NewTicker(b.cfg.Snapshot.Interval.D())
		defer t.Stop()
		snap = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-sweep.C:
			swept(b.mem.Sweep(float64(now.UnixNano()) / 1e9))
		case <-snap:
			if err := b.Snapshot(); err != nil {
				b.logger.Error("window snapshot failed", "path", b.cfg.Snapshot.Path, "err", err.Error())
			}
		}
	}
}

// Close writes the final snapshot (memory backend with a path) and
// closes the Redis client.
func (b *Backend) Close() error {
	var err error
	if b.cfg.Snapshot.Path != "" && b.redis == nil {
		err = b.Snapshot()
	}
	if b.redis != nil {
		err = errors.Join(err, b.redis.Close())
	}
	return err
}

// Status is the backend's health for readiness and /metrics.
type Status struct {
	Backend  string
	Degraded bool   // Redis is failing; windows read the fallback
	Detail   string // for /readyz
	windows.Stats
	Snapshots, SnapshotFailures, RestoreFailures uint64
	RedisFailures                                uint64
	Replay                                       ReplayResult // zero when no replay ran
}

// Status returns the backend's current health and counters.
func (b *Backend) Status() Status {
	st := Status{Backend: b.cfg.Backend, Stats: b.mem.Stats(), Snapshots: b.snapshots.Load(),
		SnapshotFailures: b.snapFailures.Load(), RestoreFailures: b.restoreBad.Load()}
	st.Detail = fmt.Sprintf("memory: %d keys, %d evicted", st.Keys, st.Evicted)
	if b.redis != nil {
		rs := b.redis.Health()
		st.RedisFailures = rs.Failures
		st.Degraded = !rs.OK
		st.Detail = "redis " + b.cfg.Redis.Addr + ": ok"
		if !rs.OK {
			st.Detail = fmt.Sprintf("redis %s: DEGRADED since %s (%s); windows read the %s fallback", b.cfg.Redis.Addr,
				rs.Since.UTC().Format(time.RFC3339), rs.LastError, b.cfg.Redis.Fallback)
		}
	}
	if r := b.restored.Load(); r != nil && r.err != nil {
		st.Detail += "; last snapshot not restored: " + r.err.Error()
	}
	if r := b.replayed.Load(); r != nil {
		st.Replay = *r
		if r.Err != nil {
			st.Detail += "; window replay FAILED (windows miss later audit records): " + r.Err.Error()
		} else {
			st.Detail += fmt.Sprintf("; replayed %d audit records after the snapshot", r.Applied)
		}
	}
	return st
}
