package models

import "github.com/prometheus/client_golang/prometheus"

// Results of a model call, the `result` label of riskforge_model_calls_total.
const (
	ResultOK      = "ok"
	ResultError   = "error"   // the run failed or produced NaN: on_error was used
	ResultTimeout = "timeout" // no answer within the declared timeout: on_error was used
)

var (
	callsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskforge_model_calls_total",
		Help: "Single-row model calls by model and result (ok, error, timeout); error and timeout calls used the model's on_error value and marked the decision degraded.",
	}, []string{"model", "result"})
	latencySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "riskforge_model_latency_seconds",
		Help:    "Time of single-row model calls, including waiting for a free session.",
		Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3},
	}, []string{"model"})
	runsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "riskforge_model_coalesced_runs_total",
		Help: "onnxruntime Runs serving coalesced single-row calls (models.coalesce); calls / runs is the mean rows per Run.",
	}, []string{"model"})
)

func init() {
	prometheus.MustRegister(callsTotal, latencySeconds, runsTotal)
}

// metrics are one model's children of the vectors, curried once at load
// so that a call does no label lookup.
type metrics struct {
	ok, failed, timedOut prometheus.Counter
	latency              prometheus.Observer
	runs                 prometheus.Counter
}

func newMetrics(model string) metrics {
	return metrics{
		ok:       callsTotal.WithLabelValues(model, ResultOK),
		failed:   callsTotal.WithLabelValues(model, ResultError),
		timedOut: callsTotal.WithLabelValues(model, ResultTimeout),
		latency:  latencySeconds.WithLabelValues(model),
		runs:     runsTotal.WithLabelValues(model),
	}
}
