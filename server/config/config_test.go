package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFull(t *testing.T) {
	src := `
server:
  addr: 0.0.0.0:8443
  tls: {cert: tls/cert.pem, key: tls/key.pem}
  admin_token: t0k
  default_policy: loan_apply
log: {level: debug, format: text}
limits:
  max_body_bytes: 64KiB
  max_batch_body_bytes: 8MiB
  max_batch_items: 500
  max_json_depth: 16
  request_timeout: 500ms
  max_inflight: 256
  retry_after: 2s
  shutdown_timeout: 10s
policies:
  - path: policies/loan
    lists:
      blocked_devices: /etc/riskforge/blocked.txt
rollout:
  loan_apply:
    champion: "2026.11.1"
    challengers:
      - {version: "2026.12.0", percent: 12.5}
    shadows:
      - version: "2026.12.1"
models: {sessions: 4}
reload: {watch: false, debounce: 1s}
state: {backend: memory, max_keys: 100, sweep_interval: 30s}
`
	c, err := Parse("/etc/riskd/riskd.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxBodyBytes != 64<<10 || c.Limits.MaxBatchBodyBytes != 8<<20 || c.Limits.RequestTimeout.D() != 500*time.Millisecond {
		t.Errorf("limits: %+v", c.Limits)
	}
	if c.Policies[0].Path != "/etc/riskd/policies/loan" || c.Server.TLS.Cert != "/etc/riskd/tls/cert.pem" {
		t.Errorf("relative paths not resolved against the config's directory: %+v %+v", c.Policies, c.Server.TLS)
	}
	if c.Policies[0].Lists["blocked_devices"] != "/etc/riskforge/blocked.txt" {
		t.Errorf("lists: %v", c.Policies[0].Lists)
	}
	r := c.Rollout["loan_apply"]
	if r.Champion != "2026.11.1" || r.Challengers[0].Share(0) != 12.5 || r.Shadows[0].Share(100) != 100 {
		t.Errorf("rollout: %+v", r)
	}
	if c.Reload.Watching() || c.State.MaxKeys != 100 || c.Models.Sessions != 4 {
		t.Errorf("reload/state/models: %+v %+v %+v", c.Reload, c.State, c.Models)
	}
}

func TestDefaultsFromEmptyFile(t *testing.T) {
	c, err := Parse("riskd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Limits.MaxInflight != 1024 || !c.Reload.Watching() || c.State.Backend != "memory" ||
		c.Models.Engine != EngineAuto || c.Models.Coalesce != DefaultCoalesce {
		t.Errorf("defaults: %+v", c)
	}
}

// TestRuntimeProcs pins how runtime.gomaxprocs resolves: a set value as
// it is; automatic, two per CPU unless a CPU quota has lowered Go's
// default below the CPUs, where Go's default stands.
func TestRuntimeProcs(t *testing.T) {
	for _, c := range []struct {
		set, goDefault, cpus, want int
	}{
		{0, 2, 2, 4}, // no quota: two per CPU
		{0, 1, 1, 2}, // one CPU
		{0, 16, 16, 32},
		{0, 2, 8, 2}, // a quota of 1.5 or 2 CPUs on 8: Go's default
		{0, 7, 8, 7}, // a quota of 7 on 8
		{3, 2, 2, 3}, // set: as it is
		{1, 2, 8, 1}, // set under a quota
		{64, 2, 2, 64},
	} {
		if got := (Runtime{GOMAXPROCS: c.set}).Procs(c.goDefault, c.cpus); got != c.want {
			t.Errorf("gomaxprocs %d, Go's default %d, %d CPUs: got %d, want %d", c.set, c.goDefault, c.cpus, got, c.want)
		}
	}
	c, err := Parse("riskd.yaml", []byte("runtime:\n  gomaxprocs: 6\n"))
	if err != nil || c.Runtime.GOMAXPROCS != 6 {
		t.Fatalf("runtime.gomaxprocs: 6 parsed as %+v, %v", c, err)
	}
	if d := Default().Runtime.GOMAXPROCS; d != 0 {
		t.Errorf("default runtime.gomaxprocs %d, want 0 (automatic)", d)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"limits:\n  max_body: 10\n", `line 2: unknown key "max_body" in limits (known keys: max_body_bytes`},
		{"srever:\n  addr: x\n", `line 1: unknown key "srever" in the top level`},
		{"rollout:\n  p:\n    champion: a\n    challenger: []\n", `unknown key "challenger" in a rollout entry`},
		{"limits:\n  request_timeout: 5\n", `"5" is not a duration`},
		{"limits:\n  max_body_bytes: lots\n", `"lots" is not a size`},
		{"log:\n  level: chatty\n", `log.level: "chatty" is not one of`},
		{"server:\n  tls: {cert: a.pem}\n", "cert and key go together"},
		{"state:\n  backend: redis\n", "state.redis.addr: must be set"},
		{"rollout:\n  p:\n    champion: a\n    challengers:\n      - {version: b, percent: 70}\n      - {version: c, percent: 40}\n", "add up to 110"},
		{"rollout:\n  p:\n    champion: a\n    challengers:\n      - {version: b}\n", "percent: required"},
		{"rollout:\n  p:\n    champion: a\n    challengers:\n      - {version: a, percent: 5}\n", `version "a" is already the champion`},
		{"rollout:\n  p:\n    champion: a\n    challengers:\n      - {version: b, percent: 5}\n    shadows:\n      - {version: b}\n", `shadows[0]: version "b" is already the challengers[0]`},
		{"rollout:\n  p:\n    champion: a\n    shadows:\n      - {version: b, percent: 1.234}\n", "more than two decimals"},
		{"rollout:\n  p:\n    challengers: []\n", "champion: must name"},
		{"policies: 3\n", "riskd.yaml"},
		{"models:\n  engine: native\n", `models.engine: "native" is not auto or onnxruntime`},
		{"runtime:\n  gomaxprocs: -1\n", "runtime.gomaxprocs: must not be negative"},
	} {
		_, err := Parse("riskd.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
}

func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret\n"), 0o600)
	c, err := Parse(filepath.Join(dir, "riskd.yaml"), []byte("server:\n  admin_token: ignored\n  admin_token_file: token\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.AdminTokenValue(); err != nil || tok != "s3cret" {
		t.Errorf("token %q, %v", tok, err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64KiB": 65536, "1MiB": 1 << 20, "16MB": 16e6, "2 GiB": 2 << 30} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestKafkaOTelExampleConfig: the data-stack example config loads, with
// its kafka and tracing sections, and is complete for riskd consume.
func TestKafkaOTelExampleConfig(t *testing.T) {
	c, err := Load("../../examples/datastack/riskd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kafka.CheckKafka(); err != nil {
		t.Fatal(err)
	}
	if c.Tracing.Exporter != "otlp" || c.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || !c.Kafka.ExactlyOnce || !filepath.IsAbs(c.Kafka.TLS.CA) ||
		c.Lookups["profile"].Redis.Addr == "" || c.Lookups["device"].Headers["Authorization"] == "" {
		t.Errorf("example config read as %+v %+v", c.Tracing, c.Kafka)
	}
	for _, bad := range []string{
		"kafka:\n  start: middle\n", "kafka:\n  exactly_once: true\n", "tracing:\n  exporter: zipkin\n",
		"tracing:\n  sample_ratio: 2\n", "kafka:\n  sasl:\n    mechanism: GSSAPI\n", "kafka:\n  brokerz: [x]\n", "lookups:\n  p:\n    redis:\n      host: x\n",
	} {
		if _, err := Parse("riskd.yaml", []byte(bad)); err == nil {
			t.Errorf("Parse accepted %q", bad)
		}
	}
}
