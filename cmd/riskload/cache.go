package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riskforge/riskforge/internal/redistest"
	"github.com/riskforge/riskforge/lookup"
)

// cacheInProcessCmd measures the lookup cache alone, in process: the
// same closed-loop load runs through the cache and straight to Redis, the
// cache's ceiling-free peer (riskload cache --in-process).
func cacheInProcessCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("riskload cache --in-process", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keys := fs.Int("keys", 200000, "profiles stored in Redis")
	entries := fs.Int("entries", 20000, "cache bound in entries")
	skew := fs.Float64("zipf", 1.1, "Zipf exponent s (> 1) of the key distribution")
	workers := fs.Int("workers", 64, "concurrent callers")
	duration := fs.Duration("duration", 10*time.Second, "measured duration per target")
	if fs.Parse(args) != nil {
		return 2
	}
	if *keys < *entries || *entries < 1 || *skew <= 1 || *workers < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "riskload cache: need --keys >= --entries >= 1, --zipf > 1, --workers >= 1, --duration > 0")
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "riskload cache: %v\n", err); return 1 }
	rc, _, stop, err := startRedisServer()
	if err != nil {
		return fail(err)
	}
	defer stop()
	err = loadProfiles(rc, *keys, func(i int) (string, []any) {
		return "profile:" + strconv.Itoa(i), []any{"segment", []string{"gold", "silver", "new"}[i%3], "limit", strconv.Itoa(1000 + i%5000), "tenure_days", strconv.Itoa(i % 3650)}
	})
	if err != nil {
		return fail(err)
	}
	src := &lookup.Redis{Client: rc, Fields: []string{"segment", "limit", "tenure_days"}}
	cache, err := lookup.New(src, lookup.Options{Name: "profile", TTL: 5 * time.Minute, Timeout: 50 * time.Millisecond,
		MaxEntries: *entries, MaxBytes: uint64(*entries) * 256})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "riskload cache: %d profiles in redis-server, cache of %d entries (otter), Zipf s=%g over the keys, %d callers, closed loop\n",
		*keys, *entries, *skew, *workers)
	fmt.Fprintf(stdout, "load average before: %s (other processes on the machine share its CPUs and skew the figures)\n\n", loadAvg())
	direct := func(ctx context.Context, k string) error { _, err := src.Fetch(ctx, k); return err }
	cached := func(ctx context.Context, k string) error { _, err := cache.Get(ctx, k); return err }
	warm := *duration / 5
	hammer(cached, *keys, *skew, *workers, warm) // fill the cache
	before := cache.Stats()
	rc1 := hammer(cached, *keys, *skew, *workers, *duration)
	after := cache.Stats()
	rd := hammer(direct, *keys, *skew, *workers, *duration)
	rc1.name, rd.name = "cached", "redis direct"
	fmt.Fprintf(stdout, "%-14s %10s %8s %10s %9s %9s %9s\n", "target", "lookups", "errors", "lookups/s", "p50", "p99", "max")
	fmt.Fprintln(stdout, "(errors: lookups over the 50ms timeout, which a decision would answer with on_error, degraded)")
	for _, r := range []*result{rc1, rd} {
		fmt.Fprintf(stdout, "%-14s %10d %8d %10.0f %9s %9s %9s\n", r.name, r.requests, r.errors, r.rate(), fmtDur(r.pct(50)), fmtDur(r.pct(99)), fmtDur(r.pct(100)))
	}
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	fmt.Fprintf(stdout, "\ncache hit rate %.3f (%d hits, %d misses), %d entries, %d fetches, %d evictions in the measured interval\n",
		float64(hits)/float64(max(hits+misses, 1)), hits, misses, after.Entries, after.Fetches-before.Fetches, after.Evictions-before.Evictions)
	fmt.Fprintf(stdout, "cached / redis direct throughput: %.2f; p99 %s vs %s\n", rc1.rate()/rd.rate(), fmtDur(rc1.pct(99)), fmtDur(rd.pct(99)))
	fmt.Fprintf(stdout, "load average after: %s\n", loadAvg())
	if rc1.errors*100 > rc1.requests || rd.errors*100 > rd.requests {
		return 1 // more than 1% timeouts
	}
	return 0
}

// hammer runs workers calling get with Zipf-distributed keys for d.
func hammer(get func(context.Context, string) error, keys int, s float64, workers int, d time.Duration) *result {
	var mu sync.Mutex
	r := &result{statuses: map[int]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			z := rand.NewZipf(rand.New(rand.NewSource(int64(w)+1)), s, 1, uint64(keys-1))
			var lat []time.Duration
			errs := 0
			ctx := context.Background()
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if get(ctx, "profile:"+strconv.FormatUint(z.Uint64(), 10)) != nil {
					errs++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			r.latencies = append(r.latencies, lat...)
			r.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.requests = len(r.latencies)
	slices.Sort(r.latencies)
	return r
}

// loadProfiles writes n profile hashes to Redis, pipelined in batches of
// 5000 so that a large key space neither takes a round trip per key nor
// one unbounded pipeline; profile(i) gives the i-th key and its
// field/value pairs.
func loadProfiles(rc *redis.Client, n int, profile func(i int) (key string, fields []any)) error {
	ctx := context.Background()
	pipe := rc.Pipeline()
	for i := range n {
		key, fields := profile(i)
		pipe.HSet(ctx, key, fields...)
		if i%5000 == 4999 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// startRedisServer runs redis-server on a free loopback port and returns
// a client, its address and the function that stops it (both the cache
// and the Redis-windows scenarios use it).
func startRedisServer() (*redis.Client, string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", nil, fmt.Errorf("redis-server is not installed (make deps installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "riskload-redis-")
	if err != nil {
		return nil, "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, fmt.Errorf("redis-server: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 128})
	stop := func() { c.Close(); cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	if err := redistest.WaitReady(addr); err != nil {
		stop()
		return nil, "", nil, err
	}
	return c, addr, stop, nil
}
