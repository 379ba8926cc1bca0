package stream

import "github.com/prometheus/client_golang/prometheus"

// metrics are the consumer's Prometheus collectors.
type metrics struct {
	records       *prometheus.CounterVec // topic, result
	lag           *prometheus.GaugeVec   // topic, partition
	commits       prometheus.Counter
	aborted       prometheus.Counter
	produceErrors prometheus.Counter
	fetchErrors   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskforge_kafka_records_total",
			Help: "Kafka events handled, by source topic and result: decided (decision produced) or dead_letter."}, []string{"topic", "result"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskforge_kafka_consumer_lag",
			Help: "Records behind the partition's high watermark after the last decided batch, by topic and partition."}, []string{"topic", "partition"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_kafka_batches_committed_total",
			Help: "Batches whose decisions were acknowledged and offsets marked for commit (or whose transaction committed)."}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_kafka_transactions_aborted_total",
			Help: "Exactly-once transactions aborted by a rebalance (their events are decided again)."}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_kafka_produce_errors_total",
			Help: "Decision or dead-letter records the brokers did not acknowledge."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskforge_kafka_fetch_errors_total",
			Help: "Fetch errors reported by the Kafka client."}),
	}
	for _, c := range []prometheus.Collector{m.records, m.lag, m.commits, m.aborted, m.produceErrors, m.fetchErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
