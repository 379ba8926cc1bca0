package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Tracing configures OpenTelemetry traces (docs/OPERATIONS.md). The
// standard OTEL_* environment variables win over these settings, as
// GOGC wins over runtime.gc_percent.
type Tracing struct {
	// Exporter is "otlp" (traces on) or "none" (the default).
	Exporter string `yaml:"exporter"`
	// Protocol is "http/protobuf" (the default) or "grpc".
	Protocol string `yaml:"protocol"`
	// Endpoint is the collector's base URL, e.g. http://collector:4318.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of new traces kept (0..1, default 1); a
	// request carrying a sampled traceparent is always kept.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// Kafka configures `riskd consume`: the consumer group that decides the
// events of Topics and produces the decisions to OutputTopic.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	Group    string   `yaml:"group"`
	Topics   []string `yaml:"topics"`
	ClientID string   `yaml:"client_id"`
	// OutputTopic receives one decision per decided event, keyed like
	// the event.
	OutputTopic string `yaml:"output_topic"`
	// DeadLetterTopic receives events that cannot be decided (bad
	// JSON, unknown event, a refused field) with the error in headers.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Policy decides the events ("" is the default policy); a record
	// header "policy" overrides it per event.
	Policy string `yaml:"policy"`
	// Start is where a new group starts reading: earliest or latest.
	Start string `yaml:"start"`
	// ExactlyOnce produces decisions and commits offsets in one Kafka
	// transaction (needs TransactionalID); off: at least once.
	ExactlyOnce     bool   `yaml:"exactly_once"`
	TransactionalID string `yaml:"transactional_id"`
	// MaxBufferedRecords bounds the records fetched but not yet decided
	// (backpressure: fetching pauses when it is reached).
	MaxBufferedRecords int `yaml:"max_buffered_records"`
	// CommitInterval is how often decided offsets are committed.
	CommitInterval Duration  `yaml:"commit_interval"`
	TLS            KafkaTLS  `yaml:"tls"`
	SASL           KafkaSASL `yaml:"sasl"`
}

// KafkaTLS turns TLS on for the broker connections.
type KafkaTLS struct {
	Enabled bool   `yaml:"enabled"`
	CA      string `yaml:"ca"`   // PEM bundle; empty: the system roots
	Cert    string `yaml:"cert"` // client certificate (mutual TLS)
	Key     string `yaml:"key"`
	// ServerName overrides the name checked in the broker certificate.
	ServerName string `yaml:"server_name"`
}

// KafkaSASL authenticates to the brokers.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile holds the password (trailing whitespace trimmed);
	// $RISKD_KAFKA_PASSWORD is used when it is empty.
	PasswordFile string `yaml:"password_file"`
}

// Password returns the SASL password from PasswordFile or the
// environment.
func (s KafkaSASL) Password() (string, error) {
	if s.PasswordFile == "" {
		return os.Getenv("RISKD_KAFKA_PASSWORD"), nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// kafkaDefaults are the kafka settings a config does not need to give.
func kafkaDefaults() Kafka {
	return Kafka{ClientID: "riskd", Start: "earliest", MaxBufferedRecords: 1000, CommitInterval: Duration(time.Second)}
}

// checkData validates the tracing and kafka sections.
func (c *Config) checkData(bad func(string, ...any)) {
	switch c.Tracing.Exporter {
	case "", "none", "otlp":
	default:
		bad("tracing.exporter: %q is not one of otlp, none", c.Tracing.Exporter)
	}
	switch c.Tracing.Protocol {
	case "", "http/protobuf", "grpc":
	default:
		bad("tracing.protocol: %q is not one of http/protobuf, grpc", c.Tracing.Protocol)
	}
	if r := c.Tracing.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		bad("tracing.sample_ratio: %v is outside 0..1", *r)
	}
	k := c.Kafka
	switch k.Start {
	case "earliest", "latest":
	default:
		bad("kafka.start: %q is not one of earliest, latest", k.Start)
	}
	if k.MaxBufferedRecords < 1 {
		bad("kafka.max_buffered_records: must be at least 1")
	}
	if k.CommitInterval < Duration(100*time.Millisecond) {
		bad("kafka.commit_interval: must be at least 100ms")
	}
	if k.ExactlyOnce && k.TransactionalID == "" {
		bad("kafka.exactly_once: needs kafka.transactional_id (unique per riskd instance)")
	}
	switch strings.ToUpper(k.SASL.Mechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		bad("kafka.sasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", k.SASL.Mechanism)
	}
	if (k.TLS.Cert == "") != (k.TLS.Key == "") {
		bad("kafka.tls: cert and key go together (one is set, the other is empty)")
	}
	for n, l := range c.Lookups {
		if l.MaxEntries < 0 {
			bad("lookups.%s.max_entries: must not be negative", n)
		}
	}
}

// CheckKafka reports what `riskd consume` needs and the kafka section
// lacks.
func (k Kafka) CheckKafka() error {
	var miss []string
	if len(k.Brokers) == 0 {
		miss = append(miss, "brokers")
	}
	if k.Group == "" {
		miss = append(miss, "group")
	}
	if len(k.Topics) == 0 {
		miss = append(miss, "topics")
	}
	if k.OutputTopic == "" {
		miss = append(miss, "output_topic")
	}
	if k.DeadLetterTopic == "" {
		miss = append(miss, "dead_letter_topic")
	}
	if len(miss) > 0 {
		return fmt.Errorf("kafka: set %s (riskd consume needs them)", strings.Join(miss, ", "))
	}
	for _, t := range k.Topics {
		if t == k.OutputTopic || t == k.DeadLetterTopic {
			return fmt.Errorf("kafka.topics: %q is also the output or dead-letter topic (decisions would be decided again)", t)
		}
	}
	return nil
}

// resolveData makes the data sections' file paths absolute.
func (c *Config) resolveData(abs func(string) string) {
	c.Kafka.TLS.CA = abs(c.Kafka.TLS.CA)
	c.Kafka.TLS.Cert = abs(c.Kafka.TLS.Cert)
	c.Kafka.TLS.Key = abs(c.Kafka.TLS.Key)
	c.Kafka.SASL.PasswordFile = abs(c.Kafka.SASL.PasswordFile)
	for n, l := range c.Lookups {
		l.Redis.PasswordFile = abs(l.Redis.PasswordFile)
		c.Lookups[n] = l
	}
}

// Lookup connects a policy lookup (by its name in the policy) to its
// source and bounds its cache.
type Lookup struct {
	// Redis is the server a redis lookup reads.
	Redis LookupRedis `yaml:"redis"`
	// Headers are sent with every request of an http lookup (e.g.
	// Authorization).
	Headers map[string]string `yaml:"headers"`
	// MaxEntries and MaxBytes bound the cache (defaults 100000, 64MiB).
	MaxEntries int      `yaml:"max_entries"`
	MaxBytes   ByteSize `yaml:"max_bytes"`
}

// LookupRedis is a Redis connection.
type LookupRedis struct {
	Addr     string `yaml:"addr"`
	DB       int    `yaml:"db"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (trailing whitespace trimmed).
	PasswordFile string `yaml:"password_file"`
}

// Bounds returns the cache bounds with defaults applied.
func (l Lookup) Bounds() (entries int, bytes uint64) {
	entries, bytes = l.MaxEntries, uint64(l.MaxBytes)
	if entries <= 0 {
		entries = 100000
	}
	if bytes == 0 {
		bytes = 64 << 20
	}
	return entries, bytes
}

// Password reads the Redis password file ("" without one).
func (r LookupRedis) Password() (string, error) {
	if r.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(r.PasswordFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
