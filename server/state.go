package server

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskforge/riskforge/state"
	"github.com/riskforge/riskforge/vm"
)

// This file wires package state (the velocity-window backend) into the
// server: binding each entry's windows, the background sweep and
// snapshots, readiness, metrics and the request time check. The backend
// and its settings are fixed at start; a reload rebinds the new programs
// to the same state.

// lane names a window state: the serving versions of a policy (champion,
// challengers, pinned: each request is evaluated by one of them, so they
// share state) or one shadow version (evaluated on top of the serving
// one, so it must count events separately). Windows of one lane with the
// same signature share state, so a reload keeps velocity counts.
func lane(policy string, e *entry) string {
	if e.role == roleShadow {
		return policy + "\x00shadow\x00" + e.v.Version + "\x00"
	}
	return policy + "\x00serve\x00"
}

// bindWindows gives every entry of sn its view of the window state.
func (s *Server) bindWindows(sn *snapshot) error {
	for _, name := range sn.names {
		for _, e := range sn.policies[name].order {
			if len(e.v.Prog.Windows) == 0 {
				continue
			}
			ws, err := s.state.Bind(e.v.Prog, lane(name, e))
			if err != nil {
				return fmt.Errorf("%s: %w", e.v, err)
			}
			e.windows = ws
		}
	}
	return nil
}

// replayResolver finds a record's windows at start: the serving lane's
// view of the loaded version that wrote it (same policy and artifact
// digest). Shadow versions are not recorded, so never replayed.
func (s *Server) replayResolver(sn *snapshot) state.Resolver {
	return func(policy, digest string) (vm.WindowStore, int) {
		ps := sn.policies[policy]
		if ps == nil {
			return nil, 0
		}
		for _, e := range ps.order {
			if e.role != roleShadow && e.v.Digest == digest && e.windows != nil {
				return e.windows, len(e.v.Prog.Windows)
			}
		}
		return nil, 0
	}
}

// countReplay publishes what the start's window replay did.
func (s *Server) countReplay() {
	r := s.state.Status().Replay
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskforge_window_replay_skipped_records_total",
		Help: "Audit records the start's window replay read and did not apply, by reason: in_snapshot (the snapshot holds them), no_generation (no window observations, or a store without generations), version_not_loaded."}, []string{"reason"})
	skipped.WithLabelValues("in_snapshot").Add(float64(r.Held))
	skipped.WithLabelValues("no_generation").Add(float64(r.NoGen))
	skipped.WithLabelValues("version_not_loaded").Add(float64(r.Unknown))
	counter := func(name, help string, v float64) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		c.Add(v)
		s.metrics.reg.MustRegister(c)
	}
	s.metrics.reg.MustRegister(skipped)
	counter("riskforge_window_replay_records_total", "Audit records the start's window replay read after the snapshot's position.", float64(r.Records))
	counter("riskforge_window_replay_applied_records_total", "Audit records whose window observations the start's replay re-applied.", float64(r.Applied))
	counter("riskforge_window_replay_events_total", "Window observations the start's replay re-applied.", float64(r.Events))
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		s.metrics.reg.MustRegister(g)
	}
	failed := 0.0
	if r.Err != nil {
		failed = 1
	}
	gauge("riskforge_window_replay_failed", "1 when the start's window replay stopped at a record it could not read: windows miss the records after it.", failed)
	gauge("riskforge_window_replay_seconds", "How long the start's window replay took.", r.Seconds)
}

// runState sweeps and snapshots until ctx ends.
func (s *Server) runState(ctx context.Context) {
	s.state.Run(ctx, func(n int) {
		if n > 0 {
			s.log.Debug("window sweep", "keys_dropped", n)
		}
	})
}

// closeState writes the shutdown snapshot.
func (s *Server) closeState() {
	if err := s.state.Close(); err != nil {
		s.log.Error("window state: closing failed", "err", err.Error())
	}
}

// stateCheck is the readiness line of the window state. A failing Redis
// keeps riskd ready — decisions go on, degraded, with the fallback — but
// the detail says so.
func (s *Server) stateCheck() check {
	st := s.state.Status()
	return check{Name: "store", OK: true, Detail: st.Backend + ": " + st.Detail}
}

func (s *Server) registerStateMetrics() {
	gauge := func(name, help string, f func() float64) {
		s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge("riskforge_window_keys", "(window, key) pairs held by the embedded window store.", func() float64 { return float64(s.state.Status().Keys) })
	gauge("riskforge_window_bytes", "Estimated memory held by the embedded window store's keys.", func() float64 { return float64(s.state.Status().Bytes) })
	gauge("riskforge_window_store_degraded", "1 while the Redis window store fails and windows read the fallback.", func() float64 {
		if s.state.Status().Degraded {
			return 1
		}
		return 0
	})
	counter("riskforge_window_evictions_total", "Window keys evicted because state.max_keys was reached (least recently seen first).", func() float64 { return float64(s.state.Status().Evicted) })
	counter("riskforge_window_keys_expired_total", "Idle window keys dropped by the periodic sweep.", func() float64 { return float64(s.state.Status().Expired) })
	counter("riskforge_window_store_failures_total", "Requests whose windows read the fallback because Redis failed or was skipped after a failure.", func() float64 { return float64(s.state.Status().RedisFailures) })
	counter("riskforge_window_snapshots_total", "Window snapshots written.", func() float64 { return float64(s.state.Status().Snapshots) })
	counter("riskforge_window_snapshot_failures_total", "Window snapshots that could not be written.", func() float64 { return float64(s.state.Status().SnapshotFailures) })
	counter("riskforge_window_snapshot_restore_failures_total", "Snapshots found corrupt or incompatible at start and skipped.", func() float64 { return float64(s.state.Status().RestoreFailures) })
}

// checkEventTime refuses a request whose event time `ts` lies outside
// [now - state.max_event_age, now + state.max_event_skew]: such a time
// would age out every window at once or never expire.
func (s *Server) checkEventTime(e *entry, req *vm.Request) error {
	p := e.v.Prog
	if p.TimeSlot < 0 || len(p.Windows) == 0 {
		return nil
	}
	ts := req.Num[p.TimeSlot]
	now := time.Now()
	lo := float64(now.Add(-s.start.State.MaxEventAge.D()).Unix())
	hi := float64(now.Add(s.start.State.MaxEventSkew.D()).Unix())
	if ts >= lo && ts <= hi && !math.IsNaN(ts) {
		return nil
	}
	return &vm.FieldError{Field: "ts", Input: true, Msg: fmt.Sprintf("event time %s is outside the accepted range %s .. %s (state.max_event_age, state.max_event_skew)",
		fmtTime(ts), time.Unix(int64(lo), 0).UTC().Format(time.RFC3339), time.Unix(int64(hi), 0).UTC().Format(time.RFC3339))}
}

func fmtTime(ts float64) string {
	if math.Abs(ts) < 1e11 {
		return time.Unix(int64(ts), 0).UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%g", ts)
}
