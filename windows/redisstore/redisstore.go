// Package redisstore keeps velocity windows in Redis so that several riskd
// processes share them. Each request's windows go to Redis in one round
// trip (a pipeline of one script call per window; each call updates and
// reads its window atomically, with the semantics of the embedded store;
// a request's windows are not one transaction: another request's call
// may run between two of them). Every window key is one Redis hash (plus,
// for count_distinct above a few values, HyperLogLog keys in the same
// hash slot), so Redis Cluster can serve it (Options.Cluster: the
// pipeline is split by node, one round trip per node involved), and
// expires one window length after its last event.
//
// When Redis fails or is slow, a request's windows read the declared
// fallback — the process's embedded store, which is fed every event, or
// zero — and the VM marks the decision degraded; the events of that
// request are not written to Redis later.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"

	"github.com/redis/go-redis/v9"

	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

//go:embed window.lua
var windowLua string

var script = redis.NewScript(windowLua)

// Options configure the client.
type Options struct {
	// Addr is host:port; with Cluster, one or more seed nodes separated
	// by commas.
	Addr, Username, Password string
	// Cluster talks to a Redis Cluster (go-redis's ClusterClient): each
	// window call goes to the node that owns its window key's slot.
	Cluster              bool
	DB                   int
	TLS                  *tls.Config // nil: plain TCP
	KeyPrefix            string
	DialTimeout, Timeout time.Duration
	// Fallback is "local" (read the embedded store, which every event is
	// also added to) or "zero".
	Fallback string
	// RetryAfter is how long requests skip Redis after a failure before
	// one tries it again (default 1s), so an outage costs each request
	// one local read rather than a timeout.
	RetryAfter time.Duration
}

// Store is a Redis-backed window store shared by every program bound to it.
type Store struct {
	opts   Options
	client redis.UniversalClient

	failures atomic.Uint64
	retryAt  atomic.Int64 // Unix nanoseconds; before it, skip Redis
	mu       sync.Mutex
	health   Health
}

// Health is the store's state as last seen by a request.
type Health struct {
	OK        bool
	Since     time.Time // when it last changed
	LastError string
	Failures  uint64 // requests that read the fallback
}

// Open returns a store; it does not wait for Redis to be reachable.
func Open(opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("no address")
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	var c redis.UniversalClient
	if opts.Cluster {
		if opts.DB != 0 {
			return nil, errors.New("a Redis Cluster has only database 0")
		}
		c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: strings.Split(opts.Addr, ","), Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLS,
			DialTimeout: opts.DialTimeout, ReadTimeout: opts.Timeout, WriteTimeout: opts.Timeout,
			MaxRetries: -1, ContextTimeoutEnabled: true, PoolSize: 64, MinIdleConns: 4,
			DisableIdentity: true,
		})
	} else {
		c = redis.NewClient(&redis.Options{
			Addr: opts.Addr, Username: opts.Username, Password: opts.Password, DB: opts.DB, TLSConfig: opts.TLS,
			DialTimeout: opts.DialTimeout, ReadTimeout: opts.Timeout, WriteTimeout: opts.Timeout,
			MaxRetries: -1, ContextTimeoutEnabled: true, PoolSize: 64, MinIdleConns: 4,
			DisableIdentity: true,
		})
	}
	return &Store{opts: opts, client: c, health: Health{OK: true, Since: time.Now()}}, nil
}

// Close closes the client.
func (s *Store) Close() error { return s.client.Close() }

// Health returns the store's current health.
func (s *Store) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.health
	h.Failures = s.failures.Load()
	return h
}

// Ping checks that Redis answers and knows the script.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return err
	}
	return script.Load(ctx, s.client).Err()
}

type window struct {
	base      string // key prefix of this window, ending in the hash tag's opening
	agg       string
	over      float64
	distinct  bool
	ttlMillis int64
}

type view struct {
	s     *Store
	wins  []window
	local vm.WindowStore
}

// Bind returns prog's view of the store. Window keys are named after the
// lane and the window's signature (hashed), so windows that share state
// in the embedded store share it here too, across processes.
func (s *Store) Bind(prog *vm.Program, lane string, local vm.WindowStore) (vm.WindowStore, error) {
	v := &view{s: s, local: local}
	for _, w := range prog.Windows {
		sum := sha256.Sum256([]byte(lane + windows.Signature(prog, w)))
		width := w.OverSec / windows.RingBuckets
		if w.Agg == "count_distinct" {
			width = w.OverSec / windows.SketchBuckets
		}
		v.wins = append(v.wins, window{
			base: s.opts.KeyPrefix + "w:{" + hex.EncodeToString(sum[:8]) + ":",
			agg:  w.Agg, over: w.OverSec, distinct: w.Agg == "count_distinct",
			ttlMillis: int64(math.Ceil((w.OverSec+width)*1000)) + 1000,
		})
	}
	return v, nil
}

// Observe implements vm.WindowStore: one pipelined round trip for all of
// the request's windows, or the fallback.
func (v *view) Observe(obs []vm.WindowObs, out []float64) error {
	var localErr error
	if v.s.opts.Fallback == "local" {
		localErr = v.local.Observe(obs, out)
	}
	if time.Now().UnixNano() < v.s.retryAt.Load() {
		v.s.failures.Add(1) // skipped: Redis failed moments ago
		return v.fallback(out, errSkipped)
	}
	for i := range obs {
		if !(math.Abs(obs[i].T) <= windows.MaxTime) {
			return errors.Join(windows.ErrBadTime, localErr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.s.opts.Timeout)
	defer cancel()
	err := v.run(ctx, obs, out)
	if err != nil && isNoScript(err) {
		if err = script.Load(ctx, v.s.client).Err(); err == nil {
			err = v.run(ctx, obs, out)
		}
	}
	if err != nil {
		v.s.fail(err)
		return v.fallback(out, err)
	}
	v.s.ok()
	return nil
}

func (v *view) run(ctx context.Context, obs []vm.WindowObs, out []float64) error {
	pipe := v.s.client.Pipeline()
	cmds := make([]*redis.Cmd, len(obs))
	for i := range obs {
		keys, args := v.wins[i].call(&obs[i])
		cmds[i] = script.EvalSha(ctx, pipe, keys, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, c := range cmds {
		s, err := c.Text()
		if err != nil {
			return err
		}
		if out[i], err = strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("redis: window %d answered %q", i, s)
		}
	}
	return nil
}

// call builds one window's script call.
func (w *window) call(o *vm.WindowObs) ([]string, []any) {
	key := w.base + entityKey(o.Key) + "}"
	add := "0"
	if o.Add {
		add = "1"
	}
	val := strconv.FormatFloat(o.V, 'g', -1, 64)
	keys := []string{key}
	lo := int64(0)
	if w.distinct {
		val = strconv.FormatUint(windows.ValueHash(o.S, o.V), 16)
		width := w.over / windows.SketchBuckets
		lo = int64(math.Floor(o.T/width)) - windows.SketchBuckets
		for i := int64(0); i <= windows.SketchBuckets; i++ {
			keys = append(keys, key+":"+strconv.FormatInt(lo+i, 10))
		}
	}
	return keys, []any{add, strconv.FormatFloat(o.T, 'g', -1, 64), val, strconv.FormatFloat(w.over, 'g', -1, 64), w.agg,
		w.ttlMillis, windows.ExactEvents, windows.RingBuckets, windows.SketchBuckets, lo}
}

// entityKey writes a window key into a Redis key name: strings as they
// are with the characters that structure key names escaped, numbers with
// a prefix no string gets.
func entityKey(k vm.WindowKey) string {
	if k.Str == "" && k.Num != 0 {
		return "#" + strconv.FormatFloat(k.Num, 'g', -1, 64)
	}
	if !strings.ContainsAny(k.Str, "{}:#%") {
		return k.Str
	}
	r := strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D", ":", "%3A", "#", "%23")
	return r.Replace(k.Str)
}

var errSkipped = errors.New("failing; the next try is at most state.redis retry interval away")

func isNoScript(err error) bool { return strings.HasPrefix(err.Error(), "NOSCRIPT") }

// fallback fills out with the declared fallback after a failure.
func (v *view) fallback(out []float64, err error) error {
	if v.s.opts.Fallback != "local" {
		clear(out)
	}
	return fmt.Errorf("redis: %w", err)
}

func (s *Store) fail(err error) {
	s.failures.Add(1)
	s.retryAt.Store(time.Now().Add(s.opts.RetryAfter).UnixNano())
	s.mu.Lock()
	if s.health.OK {
		s.health = Health{OK: false, Since: time.Now()}
	}
	s.health.LastError = err.Error()
	s.mu.Unlock()
}

func (s *Store) ok() {
	s.mu.Lock()
	if !s.health.OK {
		s.health = Health{OK: true, Since: time.Now()}
	}
	s.mu.Unlock()
}

// AddHook adds a go-redis hook to the client (tests count round trips).
func (s *Store) AddHook(h redis.Hook) { s.client.AddHook(h) }

// quiet drops go-redis's own log lines (dial failures, printed to stderr
// outside riskd's structured log); failures reach the operator through
// Health, readiness and the failure metric instead.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }
