package server

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds riskd's Prometheus collectors. Each Server has its own
// registry; /metrics also serves the default registry, where the models
// package registers its model call metrics.
type metrics struct {
	reg *prometheus.Registry

	decisions       *prometheus.CounterVec   // policy, version, action
	ruleHits        *prometheus.CounterVec   // policy, version, rule
	latency         *prometheus.HistogramVec // policy
	degraded        *prometheus.CounterVec   // policy, version
	modelFallbacks  *prometheus.CounterVec   // policy, version, model
	shadowDecisions *prometheus.CounterVec   // policy, version, action
	shadowDisagree  *prometheus.CounterVec   // policy, version
	shadowErrors    *prometheus.CounterVec   // policy, version
	reloads         *prometheus.CounterVec   // result
	reloadTime      *prometheus.GaugeVec     // result
	rejected        prometheus.Counter
	requests        *prometheus.CounterVec // endpoint, code
	policyInfo      *prometheus.GaugeVec   // policy, version, role, digest
	rolloutPercent  *prometheus.GaugeVec   // policy, version, role

	codes sync.Map // endpoint<<10|code -> prometheus.Counter
}

// Latency buckets from 25µs to 2.5s: decisions take tens of microseconds
// without models and milliseconds with them.
var latencyBuckets = []float64{
	0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.decisions = counter("riskforge_decisions_total", "Decisions returned, by policy, version and action.", "policy", "version", "action")
	m.ruleHits = counter("riskforge_rule_hits_total", "Rules fired, by policy, version and rule (shadow versions included).", "policy", "version", "rule")
	m.degraded = counter("riskforge_degraded_decisions_total", "Decisions marked degraded because a model fell back to on_error, a lookup failed or the window store fell back.", "policy", "version")
	m.modelFallbacks = counter("riskforge_model_fallbacks_total", "Model calls that failed or timed out and used the policy's on_error value, by model.", "policy", "version", "model")
	m.shadowDecisions = counter("riskforge_shadow_decisions_total", "Decisions of shadow versions (evaluated, logged, not returned).", "policy", "version", "action")
	m.shadowDisagree = counter("riskforge_shadow_disagreements_total", "Shadow decisions whose action differs from the returned one.", "policy", "version")
	m.shadowErrors = counter("riskforge_shadow_errors_total", "Requests a shadow version could not evaluate (its input schema refused them).", "policy", "version")
	m.reloads = counter("riskforge_reloads_total", "Policy reloads by result: success, failure (the old version kept serving) or unchanged.", "result")
	m.requests = counter("riskforge_http_requests_total", "HTTP requests by endpoint and status code.", "endpoint", "code")
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "riskforge_decision_latency_seconds",
		Help:    "Time from receiving a decision request to having its response ready (batch: per event), by policy. Exemplars carry the request id.",
		Buckets: latencyBuckets,
	}, []string{"policy"})
	m.reg.MustRegister(m.latency)
	m.reloadTime = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskforge_reload_timestamp_seconds", Help: "Unix time of the last reload attempt, by result."}, []string{"result"})
	m.policyInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskforge_policy_info", Help: "Loaded policy versions (value 1), with their rollout role and artifact digest."}, []string{"policy", "version", "role", "digest"})
	m.rolloutPercent = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskforge_rollout_percent", Help: "Share of keys served (champion, challenger) or shadowed (shadow), in percent."}, []string{"policy", "version", "role"})
	m.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_rejected_requests_total", Help: "Requests refused with 429 because max_inflight requests were already running."})
	m.reg.MustRegister(m.reloadTime, m.policyInfo, m.rolloutPercent, m.rejected)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "riskforge_inflight_requests", Help: "Decision requests holding an evaluation slot now (bodies already read)."},
		func() float64 { return float64(s.inflight.Load()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "riskforge_ready", Help: "1 when /readyz reports ready."},
		func() float64 {
			if ok, _ := s.readiness(); ok {
				return 1
			}
			return 0
		}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "riskforge_watch_ok", Help: "1 when every directory riskd's policies depend on is watched for changes (0: a watch was lost; -1: watching is off)."},
		func() float64 {
			switch wh := s.watchHealth.Load(); {
			case wh == nil:
				return -1
			case wh.ok:
				return 1
			}
			return 0
		}))
	m.reg.MustRegister(collectors.NewBuildInfoCollector())
	return m
}

// Endpoints, for riskforge_http_requests_total.
const (
	epDecide = iota
	epBatch
	epPolicies
	epReload
	epHealthz
	epReadyz
	epOther
)

var endpointNames = [...]string{"decide", "batch", "policies", "reload", "healthz", "readyz", "other"}

// countRequest counts one HTTP response; the counter for each endpoint
// and code is looked up once.
func (m *metrics) countRequest(ep, code int) {
	key := ep<<10 | code
	c, ok := m.codes.Load(key)
	if !ok {
		c, _ = m.codes.LoadOrStore(key, m.requests.WithLabelValues(endpointNames[ep], strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

// versionMetrics are a version's counters, resolved once at load so the
// hot path does no label lookups.
type versionMetrics struct {
	decisions [3]prometheus.Counter // by vm.Action
	shadow    [3]prometheus.Counter
	rules     []prometheus.Counter
	degraded  prometheus.Counter
	fallbacks []prometheus.Counter
	disagree  prometheus.Counter
	shadowErr prometheus.Counter
}

var actionLabels = [3]string{"approve", "review", "reject"}

// forEntry resolves the counters a version uses in its role: shadow
// counters only for shadows.
func (m *metrics) forEntry(v *Version, r role) versionMetrics {
	p, ver := v.Policy, v.Version
	var out versionMetrics
	for a, name := range actionLabels {
		// Every version can answer (a shadow too, when a request pins it).
		out.decisions[a] = m.decisions.WithLabelValues(p, ver, name)
		if r == roleShadow {
			out.shadow[a] = m.shadowDecisions.WithLabelValues(p, ver, name)
		}
	}
	if r == roleShadow {
		out.disagree = m.shadowDisagree.WithLabelValues(p, ver)
		out.shadowErr = m.shadowErrors.WithLabelValues(p, ver)
	}
	for _, rule := range v.Prog.Rules {
		out.rules = append(out.rules, m.ruleHits.WithLabelValues(p, ver, rule.Name))
	}
	if len(v.Prog.Models) > 0 || len(v.Prog.Windows) > 0 || len(v.Prog.Lookups) > 0 {
		// Models fall back on errors, windows when their store fails, lookups on timeouts.
		out.degraded = m.degraded.WithLabelValues(p, ver)
	}
	if len(v.Prog.Models) > 0 {
		for _, md := range v.Prog.Models {
			out.fallbacks = append(out.fallbacks, m.modelFallbacks.WithLabelValues(p, ver, md.Name))
		}
	}
	return out
}

// forget deletes the series of a policy version that is no longer loaded.
func (m *metrics) forget(policy, version string) {
	l := prometheus.Labels{"policy": policy, "version": version}
	for _, v := range []*prometheus.CounterVec{m.decisions, m.ruleHits, m.degraded, m.modelFallbacks, m.shadowDecisions, m.shadowDisagree, m.shadowErrors} {
		v.DeletePartialMatch(l)
	}
}

// latencyObserver is a histogram child that takes exemplars.
type latencyObserver interface {
	prometheus.Observer
	prometheus.ExemplarObserver
}

func (m *metrics) latencyFor(policy string) latencyObserver {
	return m.latency.WithLabelValues(policy).(latencyObserver)
}
