package audit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the log's Prometheus collectors; register them with
// Collectors.
type Metrics struct {
	records, bytes, checkpoints, tornBytes prometheus.Counter
	idleSyncs                              prometheus.Counter
	syncSeconds, commitSeconds             prometheus.Histogram
	batchRecords                           prometheus.Histogram
	segments, failed                       prometheus.Gauge
}

func newMetrics() *Metrics {
	lat := []float64{.0001, .00025, .0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1}
	return &Metrics{
		records:       prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_audit_records_total", Help: "Audit records made durable."}),
		bytes:         prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_audit_bytes_total", Help: "Bytes of audit records written (framing included)."}),
		checkpoints:   prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_audit_checkpoints_total", Help: "Signed checkpoints written."}),
		tornBytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_audit_torn_tail_bytes_total", Help: "Bytes of torn tail truncated at start (kept in .broken files)."}),
		idleSyncs:     prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_audit_idle_syncs_total", Help: "Group commits started before batch_interval ran out because no reserved decision was still to append its record."}),
		syncSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskforge_audit_sync_seconds", Help: "Duration of each fdatasync of the audit log.", Buckets: lat}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskforge_audit_commit_seconds", Help: "Time from the first append of a group commit until it was durable (the longest wait in the group).", Buckets: lat}),
		batchRecords:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskforge_audit_batch_records", Help: "Records per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		segments:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskforge_audit_segments", Help: "Segment files in the audit directory."}),
		failed:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskforge_audit_failed", Help: "1 when the audit log has failed (a write or fsync error) and decisions are refused."}),
	}
}

// Collectors returns every collector, for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.bytes, m.checkpoints, m.tornBytes, m.idleSyncs, m.syncSeconds, m.commitSeconds, m.batchRecords, m.segments, m.failed}
}
