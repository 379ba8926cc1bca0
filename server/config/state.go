package config

import (
	"os"
	"strings"
	"time"
)

// State configures where velocity windows keep their state; see
// docs/STATE.md.
type State struct {
	// Backend is "memory" (in process, snapshotted to disk) or "redis"
	// (shared by every riskd pointing at the same Redis).
	Backend string `yaml:"backend"`
	// MaxKeys caps the (window, key) pairs the memory store holds; the
	// least recently seen are evicted first.
	MaxKeys int `yaml:"max_keys"`
	// SweepInterval is how often idle keys are dropped.
	SweepInterval Duration `yaml:"sweep_interval"`
	// MaxEventAge and MaxEventSkew bound the `ts` a request may carry:
	// times before now-MaxEventAge or after now+MaxEventSkew are refused
	// with a 400 naming the field.
	MaxEventAge  Duration `yaml:"max_event_age"`
	MaxEventSkew Duration `yaml:"max_event_skew"`
	Snapshot     Snapshot `yaml:"snapshot"`
	Redis        Redis    `yaml:"redis"`
}

// Snapshot configures the memory store's snapshots.
type Snapshot struct {
	// Path is the snapshot file; empty turns snapshots off.
	Path string `yaml:"path"`
	// Interval is how often a snapshot is written while serving (one is
	// always written on shutdown); a kill -9 loses at most this much.
	Interval Duration `yaml:"interval"`
}

// Redis configures the Redis backend.
type Redis struct {
	// Addr is host:port; with Cluster, one or more seed nodes separated
	// by commas.
	Addr string `yaml:"addr"`
	// Cluster talks to a Redis Cluster: every window key lives in one
	// hash slot, so each window's script call goes to one node.
	Cluster      bool     `yaml:"cluster"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	DB           int      `yaml:"db"`
	TLS          RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key riskd writes, so several deployments
	// can share one Redis.
	KeyPrefix   string   `yaml:"key_prefix"`
	DialTimeout Duration `yaml:"dial_timeout"`
	// Timeout bounds one request's round trip; past it the request's
	// windows read the fallback and the decision is marked degraded.
	Timeout Duration `yaml:"timeout"`
	// Fallback is what windows read while Redis fails: "local" (this
	// process's own embedded store, which counts only the events it saw)
	// or "zero".
	Fallback string `yaml:"fallback"`
}

// RedisTLS turns on TLS to Redis; empty fields use the system roots.
type RedisTLS struct {
	Enabled    bool   `yaml:"enabled"`
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

var (
	stateKeys    = []string{"backend", "max_keys", "sweep_interval", "max_event_age", "max_event_skew", "snapshot", "redis"}
	snapshotKeys = []string{"path", "interval"}
	redisKeys    = []string{"addr", "cluster", "username", "password_file", "db", "tls", "key_prefix", "dial_timeout", "timeout", "fallback"}
	redisTLSKeys = []string{"enabled", "ca", "cert", "key", "server_name"}
)

func defaultState() State {
	return State{
		Backend: "memory", MaxKeys: 1 << 20, SweepInterval: Duration(time.Minute),
		MaxEventAge: Duration(365 * 24 * time.Hour), MaxEventSkew: Duration(time.Hour),
		Snapshot: Snapshot{Interval: Duration(time.Minute)},
		Redis: Redis{KeyPrefix: "riskforge:", DialTimeout: Duration(time.Second),
			Timeout: Duration(50 * time.Millisecond), Fallback: "local"},
	}
}

func (s *State) resolve(abs func(string) string) {
	s.Snapshot.Path = abs(s.Snapshot.Path)
	s.Redis.PasswordFile = abs(s.Redis.PasswordFile)
	s.Redis.TLS.CA = abs(s.Redis.TLS.CA)
	s.Redis.TLS.Cert = abs(s.Redis.TLS.Cert)
	s.Redis.TLS.Key = abs(s.Redis.TLS.Key)
}

func (s *State) validate(bad func(string, ...any)) {
	switch s.Backend {
	case "memory":
	case "redis":
		s.Redis.validate(bad)
	default:
		bad("state.backend: %q is not one of memory, redis", s.Backend)
	}
	if s.MaxKeys < 1 {
		bad("state.max_keys: must be at least 1")
	}
	if s.SweepInterval < Duration(time.Second) {
		bad("state.sweep_interval: must be at least 1s")
	}
	if s.MaxEventAge <= 0 || s.MaxEventSkew < 0 {
		bad("state.max_event_age: must be positive and state.max_event_skew not negative")
	}
	if s.Snapshot.Path != "" && s.Snapshot.Interval < Duration(time.Second) {
		bad("state.snapshot.interval: must be at least 1s")
	}
}

func (r *Redis) validate(bad func(string, ...any)) {
	if r.Addr == "" {
		bad("state.redis.addr: must be set (host:port) when state.backend is redis")
	}
	if r.Cluster && r.DB != 0 {
		bad("state.redis.db: a Redis Cluster has only database 0 (cluster: true)")
	}
	if r.Timeout <= 0 || r.DialTimeout <= 0 {
		bad("state.redis.timeout and dial_timeout: must be positive")
	}
	if r.Fallback != "local" && r.Fallback != "zero" {
		bad("state.redis.fallback: %q is not one of local, zero", r.Fallback)
	}
	if (r.TLS.Cert == "") != (r.TLS.Key == "") {
		bad("state.redis.tls: cert and key go together")
	}
	if r.PasswordFile != "" {
		if _, err := os.Stat(r.PasswordFile); err != nil {
			bad("state.redis.password_file: %s", strings.TrimPrefix(err.Error(), "stat "))
		}
	}
}
