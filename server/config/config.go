// Package config reads riskd's YAML configuration: where the policies are,
// how versions of a policy are rolled out, request limits, the velocity
// window store, TLS and logging. Decoding is strict: an unknown key is an
// error naming the key and its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole riskd configuration. The zero value is not useful;
// start from Default or Load.
type Config struct {
	Server   Server             `yaml:"server"`
	Log      Log                `yaml:"log"`
	Limits   Limits             `yaml:"limits"`
	Policies []Policy           `yaml:"policies"`
	Rollout  map[string]Rollout `yaml:"rollout"`
	Models   Models             `yaml:"models"`
	Reload   Reload             `yaml:"reload"`
	State    State              `yaml:"state"`
	Runtime  Runtime            `yaml:"runtime"`
	UI       UI                 `yaml:"ui"`
	Audit    Audit              `yaml:"audit"`
	Tracing  Tracing            `yaml:"tracing"`
	Kafka    Kafka              `yaml:"kafka"`
	Lookups  map[string]Lookup  `yaml:"lookups"`

	// Path is the file the configuration was read from ("" for flags
	// only). Relative paths in the file are resolved against its
	// directory when it is loaded.
	Path string `yaml:"-"`
}

// Server holds listener settings.
type Server struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
	TLS  TLS    `yaml:"tls"`
	// AdminToken is the bearer token POST /v1/admin/reload requires.
	// Empty (and no AdminTokenFile) disables the admin API.
	AdminToken string `yaml:"admin_token"`
	// AdminTokenFile names a file holding the token (trailing
	// whitespace trimmed); it wins over AdminToken.
	AdminTokenFile string `yaml:"admin_token_file"`
	// DefaultPolicy answers requests that name no policy when several
	// are loaded. With one policy loaded it is not needed.
	DefaultPolicy string `yaml:"default_policy"`
	// DebugAddr, when set, serves Go's /debug/pprof profiles on a
	// separate listener. A port alone (":6060") binds to loopback; any
	// other host is used as given, with a warning in the log.
	DebugAddr string `yaml:"debug_addr"`
	// GMTLS, when its addr is set, serves the same endpoints on a second
	// listener speaking GM TLS (GM/T 0024, ECC_SM4_CBC_SM3).
	GMTLS GMTLS `yaml:"gm_tls"`
}

// GMTLS configures the GM TLS listener: its address and the SM2 sign and
// enc certificates with their keys (PEM).
type GMTLS struct {
	Addr     string `yaml:"addr"`
	SignCert string `yaml:"sign_cert"`
	SignKey  string `yaml:"sign_key"`
	EncCert  string `yaml:"enc_cert"`
	EncKey   string `yaml:"enc_key"`
}

// Audit configures the audit trail (docs/AUDIT.md). An empty dir turns
// it off.
type Audit struct {
	Dir string `yaml:"dir"`
	// Sync is always, batch (default) or none.
	Sync            string   `yaml:"sync"`
	BatchInterval   Duration `yaml:"batch_interval"`
	BatchRecords    int      `yaml:"batch_records"`
	SegmentSize     ByteSize `yaml:"segment_size"`
	RetainAge       Duration `yaml:"retain_age"`
	RetainSize      ByteSize `yaml:"retain_size"`
	CheckpointEvery Duration `yaml:"checkpoint_interval"`
	// SigningKey is an SM2 private key (PKCS#8 PEM) signing checkpoints
	// and, with SignDecisions, every response.
	SigningKey    string `yaml:"signing_key"`
	SignDecisions bool   `yaml:"sign_decisions"`
	// EncryptionKeys are SM4 key files: the first seals new records, all
	// of them open old ones.
	EncryptionKeys []string `yaml:"encryption_keys"`
	// RecordFeatures adds the request features to each record, with the
	// features named in MaskFeatures replaced by "[masked]".
	RecordFeatures bool     `yaml:"record_features"`
	MaskFeatures   []string `yaml:"mask_features"`
	// ClientKeys are SM2 public keys (PEM) of clients; when set, every
	// decision request must carry X-Request-Signature by one of them.
	ClientKeys []string `yaml:"client_keys"`
}

// TLS names the certificate and key; both empty serves plain HTTP.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Log configures the structured log (log/slog) written to stderr.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Limits protect the server from large or slow requests and overload.
type Limits struct {
	MaxBodyBytes      ByteSize `yaml:"max_body_bytes"`
	MaxBatchBodyBytes ByteSize `yaml:"max_batch_body_bytes"`
	MaxBatchItems     int      `yaml:"max_batch_items"`
	MaxJSONDepth      int      `yaml:"max_json_depth"`
	RequestTimeout    Duration `yaml:"request_timeout"`
	MaxInflight       int      `yaml:"max_inflight"`
	RetryAfter        Duration `yaml:"retry_after"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	// DrainPeriod is how long riskd keeps serving after SIGTERM while
	// /readyz already answers 503, so that load balancers stop sending
	// before the listener closes.
	DrainPeriod Duration `yaml:"drain_period"`
	// MaxPolicyBytes, MaxRules, MaxListEntries and MaxListBytes bound
	// what a policy may load: a larger one is refused with an error
	// naming the limit (at start riskd exits, a reload is rejected).
	MaxPolicyBytes ByteSize `yaml:"max_policy_bytes"`
	MaxRules       int      `yaml:"max_rules"`
	MaxListEntries int      `yaml:"max_list_entries"`
	MaxListBytes   ByteSize `yaml:"max_list_bytes"`
}

// Policy is one entry of the policies list: a .risk source, a .rbc
// artifact, or a directory holding them.
type Policy struct {
	Path string `yaml:"path"`
	// Lists replaces file-backed lists by name with another file, for
	// every policy loaded from this entry that declares the list.
	Lists map[string]string `yaml:"lists"`
}

// Rollout says which loaded versions of one policy serve and how.
type Rollout struct {
	// Key is the request feature hashed to split traffic (user_id by
	// default): the same key always gets the same version.
	Key string `yaml:"key"`
	// Seed changes the split without changing the percentages (a new
	// seed reshuffles which keys fall into which version).
	Seed        string `yaml:"seed"`
	Champion    string `yaml:"champion"`
	Challengers []Arm  `yaml:"challengers"`
	Shadows     []Arm  `yaml:"shadows"`
	// Pinnable lists the versions any client may choose with the
	// X-Policy-Version header; pinning any other version needs the admin
	// token (Authorization: Bearer TOKEN).
	Pinnable []string `yaml:"pinnable"`
}

// Arm is a challenger or shadow version with its share of the traffic.
type Arm struct {
	Version string `yaml:"version"`
	// Percent of keys (0 to 100, two decimals) routed to a challenger,
	// or evaluated by a shadow. A shadow without percent sees every
	// request.
	Percent *float64 `yaml:"percent"`
}

// Share returns the arm's percentage, def when it is not set.
func (a Arm) Share(def float64) float64 {
	if a.Percent == nil {
		return def
	}
	return *a.Percent
}

// DefaultCoalesce is models.coalesce's default: at 64 connections on two
// cores riskd's model calls averaged 6.4 rows per Run with it and spent
// about a seventh less CPU per decision (docs/MODELS.md §8).
const DefaultCoalesce = 8

// MaxCoalesce bounds models.coalesce: each batch size up to it holds a
// session of its own.
const MaxCoalesce = 64

// Models configures the ONNX model runtime (see docs/MODELS.md).
type Models struct {
	// Library is the onnxruntime shared library; empty uses
	// $RISKFORGE_ORT_LIB, then the `make deps` location.
	Library string `yaml:"library"`
	// IntraOpThreads is the threads one model call may use (0: 1).
	IntraOpThreads int `yaml:"intra_op_threads"`
	// InterOpThreads runs independent graph nodes in parallel (0: 1).
	InterOpThreads int `yaml:"inter_op_threads"`
	// Sessions per model serving concurrent calls (0: GOMAXPROCS).
	Sessions int `yaml:"sessions"`
	// Coalesce, above 1, runs concurrent single-row calls of one model
	// as one batch of up to this many rows (0 or 1: every call alone).
	Coalesce int `yaml:"coalesce"`
	// Engine is EngineAuto (tree ensembles evaluated natively when they
	// match onnxruntime bit for bit, the rest on onnxruntime) or
	// EngineONNXRuntime (every model on onnxruntime).
	Engine string `yaml:"engine"`
}

// Values of models.engine.
const (
	EngineAuto        = "auto"
	EngineONNXRuntime = "onnxruntime"
)

// Reload configures hot reload on file change.
type Reload struct {
	// Watch enables reloading when a policy, list, model or this config
	// file changes (default true).
	Watch *bool `yaml:"watch"`
	// Debounce waits for a burst of file events to settle.
	Debounce Duration `yaml:"debounce"`
}

// Watching reports whether file watching is on.
func (r Reload) Watching() bool { return r.Watch == nil || *r.Watch }

// Runtime tunes the Go runtime. The GOGC and GOMEMLIMIT environment
// variables win over these settings when they are set.
type Runtime struct {
	// GCPercent is the garbage collector's target (GOGC). The default,
	// 200, measured against 100, 400 and 800 under the load test
	// (docs/OPERATIONS.md §15) while the window store was in the heap:
	// less CPU per decision than 100 and 400. With the store outside it
	// the three are within the machine's noise (100: 1.00, 400: 1.03 the
	// throughput of 200) and differ in memory only, by the requests'
	// garbage (RSS with a full default store: 348, 376, 439 MB).
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is a soft limit on the Go heap (GOMEMLIMIT); 0: none.
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// GOMAXPROCS is how many goroutines run Go code at once; 0 (the
	// default) is ProcsPerCPU per CPU where the process may use all of
	// the machine's CPUs, and Go's own default under a CPU quota (see
	// Procs). The GOMAXPROCS environment variable wins.
	GOMAXPROCS int `yaml:"gomaxprocs"`
}

// ProcsPerCPU is the automatic GOMAXPROCS per CPU. A server sharing its
// cores with other processes (here the load generator) loses the
// goroutines queued on a thread the kernel preempts until that thread
// runs again; with two Ps per core the other threads serve them.
// Measured under make load's single-model Zipf scenario on 2 cores
// against Go's default of 2 (docs/OPERATIONS.md §15, "Two threads per
// core"): GOMAXPROCS 3, 4 and 8 gave 1.13, 1.12 and 1.14 times the
// throughput, p99 0.99, 0.72 and 0.56 times; 8 took 5% more CPU per
// decision than 4.
const ProcsPerCPU = 2

// Procs returns the GOMAXPROCS riskd runs with, given Go's default for
// the process (runtime.GOMAXPROCS(0) before any change, with no
// GOMAXPROCS in the environment) and the CPUs it may run on
// (runtime.NumCPU). A positive r.GOMAXPROCS is taken as it is. Under a
// CPU quota below those CPUs (Go's default is then the quota, rounded
// up) the answer is Go's default: more threads than the quota would
// spend it early in each period and be throttled for the rest. Without
// one, more threads cannot use more than the CPUs, so the answer is
// ProcsPerCPU times them.
func (r Runtime) Procs(goDefault, numCPU int) int {
	switch {
	case r.GOMAXPROCS > 0:
		return r.GOMAXPROCS
	case goDefault < numCPU:
		return goDefault
	}
	return ProcsPerCPU * numCPU
}

// UI configures the playground page at /ui (package playground).
type UI struct {
	// Enabled serves the page and its endpoints (default false: the page
	// shows every served policy's source, thresholds included, to anyone
	// who can reach the port; turn it on where that is fine).
	Enabled bool `yaml:"enabled"`
	// RatePerSecond bounds playground requests per second (default 20).
	RatePerSecond float64 `yaml:"rate_per_second"`
}

// Default returns the configuration used for anything a file or flag
// does not set.
func Default() *Config {
	return &Config{
		Server: Server{Addr: "127.0.0.1:8080"},
		Log:    Log{Level: "info", Format: "json"},
		Limits: Limits{
			MaxBodyBytes:      1 << 20,
			MaxBatchBodyBytes: 16 << 20,
			MaxBatchItems:     1000,
			MaxJSONDepth:      32,
			RequestTimeout:    Duration(2 * time.Second),
			MaxInflight:       1024,
			RetryAfter:        Duration(time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
			DrainPeriod:       Duration(5 * time.Second),
			MaxPolicyBytes:    1 << 20,
			MaxRules:          10000,
			MaxListEntries:    1000000,
			MaxListBytes:      64 << 20,
		},
		Reload:  Reload{Debounce: Duration(250 * time.Millisecond)},
		State:   defaultState(),
		Models:  Models{Coalesce: DefaultCoalesce, Engine: EngineAuto},
		Runtime: Runtime{GCPercent: 200},
		Kafka:   kafkaDefaults(),
	}
}

// Load reads and validates a configuration file on top of Default.
// Relative paths in it are resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a configuration read from path (used in messages and to
// resolve relative paths) and validates it.
func Parse(path string, data []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", path, yamlError(err))
	}
	c.Path = path
	c.resolve(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)
	yamlLine     = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?`)
)

var sectionOf = map[string]string{
	"Config": "the top level", "Server": "server", "TLS": "server.tls", "Log": "log",
	"Limits": "limits", "Policy": "a policies entry", "Rollout": "a rollout entry",
	"Arm": "a challengers/shadows entry", "Models": "models", "Reload": "reload", "State": "state", "Runtime": "runtime",
	"GMTLS": "server.gm_tls", "Audit": "audit",
	"Snapshot": "state.snapshot", "Redis": "state.redis", "RedisTLS": "state.redis.tls",
	"Tracing": "tracing", "Kafka": "kafka", "KafkaTLS": "kafka.tls", "KafkaSASL": "kafka.sasl", "Lookup": "a lookups entry", "LookupRedis": "lookups.NAME.redis",
}

// yamlError rewrites yaml.v3 messages into "line N: unknown key "x" in
// limits (known keys: ...)" and "line N: cannot read ... as ...".
func yamlError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := yamlLine.ReplaceAllString(err.Error(), "")
		return strings.Join(strings.Fields(msg), " ")
	}
	var parts []string
	for _, e := range te.Errors {
		if x := unknownField.FindStringSubmatch(e); x != nil {
			sec := sectionOf[x[3]]
			if sec == "" {
				sec = x[3]
			}
			parts = append(parts, fmt.Sprintf("line %s: unknown key %q in %s (known keys: %s)", x[1], x[2], sec, strings.Join(knownKeys(x[3]), ", ")))
			continue
		}
		e = cannotUnmarshal.ReplaceAllString(e, "cannot read $1 as $2")
		parts = append(parts, strings.ReplaceAll(e, "config.", ""))
	}
	return strings.Join(parts, "; ")
}

var cannotUnmarshal = regexp.MustCompile(`cannot unmarshal !!\w+ (.*) into (\S+)`)

func knownKeys(typ string) []string {
	keys := map[string][]string{
		"Config":      {"server", "log", "limits", "policies", "rollout", "models", "reload", "state", "runtime", "ui", "audit", "tracing", "kafka", "lookups"},
		"GMTLS":       {"addr", "sign_cert", "sign_key", "enc_cert", "enc_key"},
		"Audit":       {"dir", "sync", "batch_interval", "batch_records", "segment_size", "retain_age", "retain_size", "checkpoint_interval", "signing_key", "sign_decisions", "encryption_keys", "record_features", "mask_features", "client_keys"},
		"Runtime":     {"gc_percent", "memory_limit", "gomaxprocs"},
		"Server":      {"addr", "tls", "admin_token", "admin_token_file", "default_policy", "debug_addr", "gm_tls"},
		"TLS":         {"cert", "key"},
		"Log":         {"level", "format"},
		"Tracing":     {"exporter", "protocol", "endpoint", "sample_ratio"},
		"Kafka":       {"brokers", "group", "topics", "client_id", "output_topic", "dead_letter_topic", "policy", "start", "exactly_once", "transactional_id", "max_buffered_records", "commit_interval", "tls", "sasl"},
		"KafkaTLS":    {"enabled", "ca", "cert", "key", "server_name"},
		"KafkaSASL":   {"mechanism", "username", "password_file"},
		"Lookup":      {"redis", "headers", "max_entries", "max_bytes"},
		"LookupRedis": {"addr", "db", "username", "password_file"},
		"Limits": {"max_body_bytes", "max_batch_body_bytes", "max_batch_items", "max_json_depth", "request_timeout", "max_inflight", "retry_after", "shutdown_timeout",
			"drain_period", "max_policy_bytes", "max_rules", "max_list_entries", "max_list_bytes"},
		"Policy":   {"path", "lists"},
		"Rollout":  {"key", "seed", "champion", "challengers", "shadows", "pinnable"},
		"Arm":      {"version", "percent"},
		"Models":   {"library", "intra_op_threads", "inter_op_threads", "sessions", "coalesce"},
		"Reload":   {"watch", "debounce"},
		"State":    stateKeys,
		"Snapshot": snapshotKeys,
		"Redis":    redisKeys,
		"RedisTLS": redisTLSKeys,
	}[typ]
	return keys
}

// resolve makes relative file paths absolute against dir.
func (c *Config) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Server.TLS.Cert = abs(c.Server.TLS.Cert)
	c.Server.TLS.Key = abs(c.Server.TLS.Key)
	c.Server.AdminTokenFile = abs(c.Server.AdminTokenFile)
	c.Models.Library = abs(c.Models.Library)
	g := &c.Server.GMTLS
	g.SignCert, g.SignKey, g.EncCert, g.EncKey = abs(g.SignCert), abs(g.SignKey), abs(g.EncCert), abs(g.EncKey)
	a := &c.Audit
	a.Dir, a.SigningKey = abs(a.Dir), abs(a.SigningKey)
	for i := range a.EncryptionKeys {
		a.EncryptionKeys[i] = abs(a.EncryptionKeys[i])
	}
	for i := range a.ClientKeys {
		a.ClientKeys[i] = abs(a.ClientKeys[i])
	}
	c.resolveData(abs)
	for i := range c.Policies {
		c.Policies[i].Path = abs(c.Policies[i].Path)
		for k, v := range c.Policies[i].Lists {
			c.Policies[i].Lists[k] = abs(v)
		}
	}
	c.State.resolve(abs)
}

// Validate checks values that decoding cannot: ranges, enumerations, and
// that the rollout is consistent in itself (whether the versions it names
// are loaded is checked when the policies are).
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Server.Addr == "" {
		bad("server.addr: must not be empty")
	}
	if (c.Server.TLS.Cert == "") != (c.Server.TLS.Key == "") {
		bad("server.tls: cert and key go together (one is set, the other is empty)")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format: %q is not one of json, text", c.Log.Format)
	}
	l := c.Limits
	if l.MaxBodyBytes < 64 {
		bad("limits.max_body_bytes: %d is too small (at least 64)", l.MaxBodyBytes)
	}
	if l.MaxBatchBodyBytes < l.MaxBodyBytes {
		bad("limits.max_batch_body_bytes: must be at least max_body_bytes (%d)", l.MaxBodyBytes)
	}
	if l.MaxBatchItems < 1 {
		bad("limits.max_batch_items: must be at least 1")
	}
	if l.MaxJSONDepth < 3 {
		bad("limits.max_json_depth: must be at least 3 (a request nests object, features, value)")
	}
	if l.RequestTimeout <= 0 {
		bad("limits.request_timeout: must be positive")
	}
	if l.MaxInflight < 1 {
		bad("limits.max_inflight: must be at least 1")
	}
	if l.RetryAfter < Duration(time.Second) {
		bad("limits.retry_after: must be at least 1s (Retry-After is in whole seconds)")
	}
	if l.ShutdownTimeout <= 0 {
		bad("limits.shutdown_timeout: must be positive")
	}
	if l.DrainPeriod < 0 {
		bad("limits.drain_period: must not be negative")
	}
	if l.MaxPolicyBytes < 1 || l.MaxRules < 1 || l.MaxListEntries < 1 || l.MaxListBytes < 1 {
		bad("limits: max_policy_bytes, max_rules, max_list_entries and max_list_bytes must be at least 1")
	}
	for i, p := range c.Policies {
		if p.Path == "" {
			bad("policies[%d].path: must not be empty", i)
		}
	}
	if c.UI.RatePerSecond < 0 {
		bad("ui.rate_per_second: must not be negative")
	}
	if c.Reload.Debounce < 0 {
		bad("reload.debounce: must not be negative")
	}
	c.State.validate(bad)
	if c.Runtime.GCPercent < -1 || c.Runtime.GCPercent == 0 {
		bad("runtime.gc_percent: must be positive (or -1 to turn the collector off, with a memory_limit)")
	}
	if c.Runtime.GCPercent == -1 && c.Runtime.MemoryLimit == 0 {
		bad("runtime.gc_percent: -1 needs runtime.memory_limit")
	}
	if c.Runtime.GOMAXPROCS < 0 {
		bad("runtime.gomaxprocs: must not be negative (0: automatic)")
	}
	if c.Models.IntraOpThreads < 0 || c.Models.InterOpThreads < 0 || c.Models.Sessions < 0 {
		bad("models: intra_op_threads, inter_op_threads and sessions must not be negative")
	}
	if c.Models.Coalesce < 0 || c.Models.Coalesce > MaxCoalesce {
		bad("models.coalesce: must be between 0 and %d rows", MaxCoalesce)
	}
	if c.Models.Engine != EngineAuto && c.Models.Engine != EngineONNXRuntime {
		bad("models.engine: %q is not %s or %s", c.Models.Engine, EngineAuto, EngineONNXRuntime)
	}
	errs = append(errs, c.Server.GMTLS.check()...)
	errs = append(errs, c.Audit.check()...)
	c.checkData(bad)
	names := make([]string, 0, len(c.Rollout))
	for n := range c.Rollout {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, e := range c.Rollout[n].check() {
			bad("rollout.%s: %s", n, e)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (r Rollout) check() []string {
	var errs []string
	if r.Champion == "" {
		errs = append(errs, "champion: must name the version that serves by default")
	}
	// A version plays one part: champion, one challenger or one shadow.
	seen := map[string]string{r.Champion: "champion"}
	arm := func(where string, a Arm, needPercent bool) {
		errs = append(errs, a.check(where, needPercent)...)
		if prev, ok := seen[a.Version]; ok && a.Version != "" {
			errs = append(errs, fmt.Sprintf("%s: version %q is already the %s", where, a.Version, prev))
		}
		seen[a.Version] = where
	}
	total := 0.0
	for i, a := range r.Challengers {
		arm(fmt.Sprintf("challengers[%d]", i), a, true)
		total += a.Share(0)
	}
	if total > 100+1e-9 {
		errs = append(errs, fmt.Sprintf("challengers: percentages add up to %v, more than 100", total))
	}
	for i, a := range r.Shadows {
		arm(fmt.Sprintf("shadows[%d]", i), a, false)
	}
	return errs
}

func (a Arm) check(where string, needPercent bool) []string {
	var errs []string
	if a.Version == "" {
		errs = append(errs, where+".version: must not be empty")
	}
	if a.Percent == nil {
		if needPercent {
			errs = append(errs, where+".percent: required for a challenger")
		}
		return errs
	}
	p := *a.Percent
	if math.IsNaN(p) || p < 0 || p > 100 {
		errs = append(errs, fmt.Sprintf("%s.percent: %v is outside 0..100", where, p))
	} else if r := math.Round(p * 100); math.Abs(r-p*100) > 1e-6 {
		errs = append(errs, fmt.Sprintf("%s.percent: %v has more than two decimals", where, p))
	}
	return errs
}

// AdminTokenValue returns the admin token, reading AdminTokenFile when set.
func (c *Config) AdminTokenValue() (string, error) {
	if c.Server.AdminTokenFile == "" {
		return c.Server.AdminToken, nil
	}
	data, err := os.ReadFile(c.Server.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("server.admin_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("server.admin_token_file: %s is empty", c.Server.AdminTokenFile)
	}
	return tok, nil
}

// RolloutFor returns the rollout of a policy and whether one is configured.
func (c *Config) RolloutFor(policy string) (Rollout, bool) {
	r, ok := c.Rollout[policy]
	return r, ok
}

// Duration is a time.Duration written as "250ms", "2s", "1m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration such as 250ms, 2s or 1m is expected", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write it like 250ms, 2s or 1m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a size in bytes, written as a number or with a unit:
// 512KiB, 1MiB, 16MB.
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a size (write it like 65536, 512KiB or 1MiB)", n.Line, n.Value)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "65536", "64KiB", "1MiB", "1GiB", "16MB", "64KB".
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func (g GMTLS) check() []string {
	if g.Addr == "" {
		if g != (GMTLS{}) {
			return []string{"server.gm_tls: certificates are set but addr is empty (set addr to serve GM TLS)"}
		}
		return nil
	}
	if g.SignCert == "" || g.SignKey == "" || g.EncCert == "" || g.EncKey == "" {
		return []string{"server.gm_tls: sign_cert, sign_key, enc_cert and enc_key are all needed (riskd certs makes a test set)"}
	}
	return nil
}

func (a Audit) check() []string {
	var errs []string
	switch a.Sync {
	case "", "always", "batch", "none":
	default:
		errs = append(errs, fmt.Sprintf("audit.sync: %q is not one of always, batch, none", a.Sync))
	}
	if a.BatchInterval < 0 || a.BatchRecords < 0 || a.SegmentSize < 0 || a.RetainAge < 0 || a.RetainSize < 0 || a.CheckpointEvery < 0 {
		errs = append(errs, "audit: batch_interval, batch_records, segment_size, retain_age, retain_size and checkpoint_interval must not be negative")
	}
	if a.SegmentSize > 0 && a.SegmentSize < 64<<10 {
		errs = append(errs, "audit.segment_size: at least 64KiB")
	}
	if a.Dir == "" && (a.SigningKey != "" || len(a.EncryptionKeys) > 0 || a.RecordFeatures) {
		errs = append(errs, "audit.dir: must be set for the other audit settings to apply")
	}
	if a.SignDecisions && a.SigningKey == "" {
		errs = append(errs, "audit.sign_decisions: needs audit.signing_key")
	}
	return errs
}
