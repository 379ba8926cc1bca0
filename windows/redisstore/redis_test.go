package redisstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riskforge/riskforge/internal/redistest"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

var aggs = []string{"count", "sum", "avg", "min", "max", "count_distinct"}

func testProg() *vm.Program {
	p := &vm.Program{Inputs: []vm.Input{{Name: "card", Type: vm.TString}}}
	for _, a := range aggs {
		p.Windows = append(p.Windows, vm.Window{Name: a, Agg: a, OverSec: 600, Keys: []vm.KeyPart{{String: true}}})
	}
	return p
}

func openStore(t *testing.T, addr, fallback string) (*Store, vm.WindowStore, *windows.Memory) {
	t.Helper()
	return openOpts(t, Options{Addr: addr, KeyPrefix: "t:", DialTimeout: time.Second, Timeout: 2 * time.Second, Fallback: fallback})
}

func openOpts(t *testing.T, opts Options) (*Store, vm.WindowStore, *windows.Memory) {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	local := windows.NewMemory(testProg(), 0)
	v, err := s.Bind(testProg(), "lane|", local)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, local
}

func event(key string, t, v float64, s string, add bool) []vm.WindowObs {
	obs := make([]vm.WindowObs, len(aggs))
	for i := range obs {
		obs[i] = vm.WindowObs{Key: vm.WindowKey{Str: key}, T: t, V: v, S: s, Add: add}
	}
	return obs
}

// TestRedisMatchesEmbedded is a differential test: the same events through
// Redis and through a fresh embedded store give the same aggregates, in
// the exact regime and after keys switch to buckets (integer values, so
// sums do not depend on addition order), and count_distinct agrees
// exactly while small and within the sketches' error when large.
func TestRedisMatchesEmbedded(t *testing.T) {
	srv := redistest.Start(t)
	_, red, _ := openStore(t, srv.Addr, "zero")
	matchesEmbedded(t, red)
}

// TestRedisClusterMatchesEmbedded runs the same differential test against
// a real three-node Redis Cluster, and checks that the window keys spread
// over every node: each script call touches the keys of one window key
// only, all in the slot of its hash tag (without the tag, count_distinct's
// calls fail with CROSSSLOT).
func TestRedisClusterMatchesEmbedded(t *testing.T) {
	cl := redistest.StartCluster(t)
	_, red, _ := openOpts(t, Options{Addr: cl.Addrs(), Cluster: true, KeyPrefix: "t:", DialTimeout: time.Second, Timeout: 2 * time.Second, Fallback: "zero"})
	matchesEmbedded(t, red)
	for _, n := range cl.Nodes {
		if keys, err := n.Client(t).DBSize(context.Background()).Result(); err != nil || keys == 0 {
			t.Errorf("cluster node %s holds %d keys (%v): the windows did not spread over the cluster", n.Addr, keys, err)
		}
	}
}

func matchesEmbedded(t *testing.T, red vm.WindowStore) {
	t.Helper()
	emb := windows.NewMemory(testProg(), 0)
	rng := rand.New(rand.NewPCG(1, 2))
	now := 1.7e9
	a, b := make([]float64, len(aggs)), make([]float64, len(aggs))
	for i := 0; i < 600; i++ {
		now += rng.Float64() * 20
		key := fmt.Sprint("card", rng.IntN(4))
		if i%3 == 0 {
			key = "busy"
		}
		obs := event(key, now, float64(rng.IntN(100)), fmt.Sprint("dev", rng.IntN(6)), rng.IntN(5) != 0)
		if err := red.Observe(obs, a); err != nil {
			t.Fatal(err)
		}
		if err := emb.Observe(obs, b); err != nil {
			t.Fatal(err)
		}
		for w := range aggs {
			if a[w] != b[w] {
				t.Fatalf("event %d (%s at %.0f) %s: redis %v, embedded %v", i, key, now, aggs[w], a[w], b[w])
			}
		}
	}
	// Many distinct values on one key: both estimates within 4 standard
	// errors of the embedded sketch (6.5%).
	for i := 0; i < 3000; i++ {
		obs := event("device", now+float64(i)*0.1, 0, fmt.Sprint("user", i), true)
		if err := red.Observe(obs, a); err != nil {
			t.Fatal(err)
		}
		emb.Observe(obs, b)
	}
	for _, got := range []float64{a[5], b[5]} {
		if math.Abs(got-3000)/3000 > 0.26 {
			t.Fatalf("distinct estimates redis %v embedded %v for 3000", a[5], b[5])
		}
	}
}

type countHook struct{ pipelines, commands atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.commands.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.pipelines.Add(1); return next(ctx, cmds) }
}

// TestRedisOneRoundTrip: a request's six windows take one round trip,
// every key carries one hash tag (one Cluster slot per window key) and
// expires after its window.
func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	s, red, _ := openStore(t, srv.Addr, "zero")
	out := make([]float64, len(aggs))
	if err := red.Observe(event("warm", 1.7e9, 1, "x", true), out); err != nil { // loads the script
		t.Fatal(err)
	}
	h := &countHook{}
	s.AddHook(h)
	for i := 0; i < 20; i++ {
		if err := red.Observe(event("c1", 1.7e9+float64(i), 1, fmt.Sprint("d", i), true), out); err != nil {
			t.Fatal(err)
		}
	}
	if p, c := h.pipelines.Load(), h.commands.Load(); p != 20 || c != 0 {
		t.Fatalf("20 requests took %d pipelines and %d single commands; want 20 and 0", p, c)
	}
	c := srv.Client(t)
	keys, err := c.Keys(context.Background(), "t:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	tag := regexp.MustCompile(`^t:w:\{[0-9a-f]{16}:[^{}]+\}(:-?\d+)?$`)
	for _, k := range keys {
		if !tag.MatchString(k) {
			t.Errorf("key %q does not keep the window key in one hash tag", k)
		}
		ttl, err := c.PTTL(context.Background(), k).Result()
		if err != nil || ttl <= 0 || ttl > (600+600/windows.SketchBuckets+2)*time.Second {
			t.Errorf("key %q expires in %v (%v); want after its 600 s window", k, ttl, err)
		}
	}
}

// TestRedisOutage: with Redis gone, requests are answered from the local
// fallback within the timeout, marked failed (the VM degrades the
// decision), counted, and the health says so; later requests skip Redis
// until the retry interval passes.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(Options{Addr: srv.Addr, KeyPrefix: "t:", DialTimeout: 200 * time.Millisecond, Timeout: 200 * time.Millisecond, Fallback: "local"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	local := windows.NewMemory(testProg(), 0)
	red, _ := s.Bind(testProg(), "", local)
	out := make([]float64, len(aggs))
	for i := 0; i < 3; i++ {
		if err := red.Observe(event("c", 1.7e9+float64(i), 5, "d", true), out); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	start := time.Now()
	err = red.Observe(event("c", 1.7e9+3, 5, "d", true), out)
	if err == nil || out[0] != 4 || out[1] != 20 {
		t.Fatalf("outage: err %v, count %v, sum %v; want an error and the local 4 and 20", err, out[0], out[1])
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("outage request took %v", el)
	}
	start = time.Now()
	if err := red.Observe(event("c", 1.7e9+4, 5, "d", true), out); err == nil || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("next request: err %v after %v; want a fast fallback", err, time.Since(start))
	}
	h := s.Health()
	if h.OK || h.Failures != 2 || h.LastError == "" {
		t.Fatalf("health %+v", h)
	}
}
