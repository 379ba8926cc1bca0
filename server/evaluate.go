package server

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riskforge/riskforge/server/rollout"
	"github.com/riskforge/riskforge/vm"
)

// Evaluation: running a decoded request on a version, with its
// metrics, logs, audit record and shadow versions.

// evaluate runs one request on e and appends its response object.
// It reports the action for shadow comparison.
// With ar (audit on) it also encodes the decision's record into ar.buf.
func (s *Server) evaluate(out []byte, index int, rid string, ps *policySet, e *entry, req *vm.Request, start time.Time, ar *auditRec, batchID string, body []byte, tr *trace) ([]byte, vm.Action, error) {
	v := e.v
	if err := s.checkEventTime(e, req); err != nil {
		return out, 0, err
	}
	m := v.machine()
	m.Models, m.Windows = v.runner, ar.windows(e.windows)
	endRules := noop
	if tr != nil {
		m.Models, m.Windows = tr.dt.Models(v.Prog, v.runner), tr.dt.Windows(v.Prog, m.Windows)
		endRules = tr.dt.Phase("rules")
	}
	d, err := m.Eval(req)
	endRules()
	if err != nil {
		v.release(m)
		return out, 0, err
	}
	lat := time.Since(start)
	out = appendDecision(out, index, rid, &v.serve, d, lat.Microseconds())
	if ar != nil {
		ep := epDecide
		if batchID != "" {
			ep = epBatch
		}
		s.recordDecision(ar, ep, index, batchID, rid, e, body, d, lat)
	}
	vmx := &e.m
	vmx.decisions[d.Action].Inc()
	for i := range d.Fired {
		if r := d.Fired[i].Rule; r >= 0 && r < len(vmx.rules) {
			vmx.rules[r].Inc()
		}
	}
	if d.Degraded {
		vmx.degraded.Inc()
		for i := range d.Models {
			if d.Models[i].Degraded {
				vmx.fallbacks[i].Inc()
			}
		}
	}
	tr.decided(e, d)
	if s.log.Enabled(ctxBG, slog.LevelDebug) {
		s.logDecision("decision", rid, tr.id(), e, d, lat)
	}
	action := d.Action
	v.release(m)
	return out, action, nil
}

func (s *Server) logDecision(msg, rid, traceID string, e *entry, d *vm.Decision, lat time.Duration) {
	rules := make([]string, len(d.Fired))
	for i, f := range d.Fired {
		rules[i] = f.Name
	}
	attrs := []slog.Attr{
		slog.String("request_id", rid), slog.String("policy", e.v.Policy), slog.String("version", e.v.Version),
		slog.String("role", e.role.String()), slog.String("decision", d.Action.String()), slog.Float64("score", d.Score),
		slog.Any("rules", rules), slog.Bool("degraded", d.Degraded), slog.Int64("latency_us", lat.Microseconds()),
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	s.log.LogAttrs(ctxBG, slog.LevelDebug, msg, attrs...)
}

// observe records a decision's latency, with the request id as exemplar
// for slow decisions and one in 128 others; a traced decision always
// gets one and adds its trace id.
func (s *Server) observe(ps *policySet, rid, traceID string, d time.Duration) {
	sec := d.Seconds()
	if traceID != "" {
		ex := prometheus.Labels{"trace_id": traceID}
		if len(rid) <= 80 { // exemplar labels hold at most 128 runes in all
			ex["request_id"] = rid
		}
		ps.latency.ObserveWithExemplar(sec, ex)
		return
	}
	if len(rid) <= 100 && (d > 5*time.Millisecond || rand.Uint32()&127 == 0) {
		ps.latency.ObserveWithExemplar(sec, prometheus.Labels{"request_id": rid})
		return
	}
	ps.latency.Observe(sec)
}

// shadows evaluates the shadow versions on a request already answered by
// served and counts their decisions and disagreements.
func (s *Server) shadows(ps *policySet, served *entry, bucket int, body []byte, rid string, action vm.Action) {
	for _, sh := range ps.shadows {
		if sh.v == served.v || (sh.percent < 100 && (bucket < 0 || !rollout.Sampled(bucket, sh.percent))) {
			continue
		}
		v := sh.v
		req := v.serve.getReq()
		if err := v.serve.dec.Decode(body, req); err != nil {
			v.serve.putReq(req)
			sh.m.shadowErr.Inc()
			s.log.Debug("shadow version refused the request", "request_id", rid, "policy", ps.name, "version", v.Version, "err", err.Error())
			continue
		}
		if v.lookups != nil {
			v.lookups.fill(ctxBG, req)
		}
		m := v.machine()
		m.Models, m.Windows = v.runner, sh.windows
		start := time.Now()
		d, err := m.Eval(req)
		if err == nil {
			sh.m.shadow[d.Action].Inc()
			for i := range d.Fired {
				if r := d.Fired[i].Rule; r >= 0 && r < len(sh.m.rules) {
					sh.m.rules[r].Inc()
				}
			}
			if d.Action != action {
				sh.m.disagree.Inc()
			}
			if s.log.Enabled(ctxBG, slog.LevelDebug) {
				s.logDecision("shadow decision", rid, "", sh, d, time.Since(start))
			}
		}
		v.release(m)
		v.serve.putReq(req)
	}
}
