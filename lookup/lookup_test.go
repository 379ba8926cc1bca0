package lookup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riskforge/riskforge/internal/redistest"
)

// counting counts fetches and can slow them down.
type counting struct {
	Source
	n     atomic.Int64
	delay time.Duration
}

func (c *counting) Fetch(ctx context.Context, key string) (Record, error) {
	c.n.Add(1)
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
	return c.Source.Fetch(ctx, key)
}

func opts() Options {
	return Options{Name: "profile", TTL: time.Minute, Timeout: time.Second, MaxBytes: 1 << 20, MaxEntries: 1000}
}

// TestLookupRedis: fields come from the hash, a missing key reads as
// missing and is remembered, a hit does not fetch, and metrics count it.
func TestLookupRedis(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	rc.HSet(ctx, "profile:u1", "segment", "gold", "limit", "2500.5")
	src := &counting{Source: &Redis{Client: rc, Fields: []string{"segment", "limit", "absent"}}}
	c, err := New(src, opts())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := c.Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := c.Get(ctx, "profile:u1")
		if err != nil || r.Missing || r.Fields["segment"] != "gold" || r.Fields["limit"] != "2500.5" || len(r.Fields) != 2 {
			t.Fatalf("profile:u1 = %+v, %v", r, err)
		}
		r, err = c.Get(ctx, "profile:nobody")
		if err != nil || !r.Missing {
			t.Fatalf("missing key = %+v, %v", r, err)
		}
	}
	if n := src.n.Load(); n != 2 {
		t.Errorf("%d fetches for 2 keys read 3 times each; want 2 (hits and the missing key cached)", n)
	}
	st := c.Stats()
	if st.Hits != 4 || st.Misses != 2 || st.HitRatio() < 0.66 || st.HitRatio() > 0.67 {
		t.Errorf("stats %+v", st)
	}
	if v := testutil.ToFloat64(prometheus.Collector(mustGet(t, reg, "riskforge_lookup_hits_total"))); v != 4 {
		t.Errorf("riskforge_lookup_hits_total = %v", v)
	}
}

func mustGet(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
			c.Add(mf.Metric[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// TestLookupSingleflight: a burst of 200 callers for one cold key makes
// one fetch.
func TestLookupSingleflight(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	rc.HSet(context.Background(), "hot", "segment", "x")
	src := &counting{Source: &Redis{Client: rc, Fields: []string{"segment"}}, delay: 50 * time.Millisecond}
	c, _ := New(src, opts())
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := c.Get(context.Background(), "hot"); err != nil || r.Fields["segment"] != "x" {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := src.n.Load(); n != 1 || bad.Load() != 0 {
		t.Errorf("%d fetches (want 1), %d wrong answers", n, bad.Load())
	}
}

// TestLookupTimeoutAndExpiry: a slow source times out with ErrTimeout
// and nothing is cached; entries expire after the jittered TTL and
// missing keys after the shorter negative TTL.
func TestLookupTimeoutAndExpiry(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	ctx := context.Background()
	rc.HSet(ctx, "k", "f", "1")
	slow := &counting{Source: &Redis{Client: rc, Fields: []string{"f"}}, delay: 200 * time.Millisecond}
	o := opts()
	o.Timeout = 20 * time.Millisecond
	c, _ := New(slow, o)
	start := time.Now()
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrTimeout) || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("slow fetch: %v after %s; want ErrTimeout after about 20ms", err, time.Since(start))
	}
	slow.delay = 0
	if r, err := c.Get(ctx, "k"); err != nil || r.Fields["f"] != "1" {
		t.Fatalf("after the timeout the key is fetched again: %+v %v", r, err)
	}

	o = opts()
	o.TTL, o.NegativeTTL, o.Jitter = time.Second, 100*time.Millisecond, 0.2
	src := &counting{Source: &Redis{Client: rc, Fields: []string{"f"}}}
	c, _ = New(src, o)
	c.Get(ctx, "k")
	c.Get(ctx, "gone")
	time.Sleep(300 * time.Millisecond) // past the negative TTL (≤120ms), before the TTL (≥800ms)
	c.Get(ctx, "k")
	c.Get(ctx, "gone")
	if n := src.n.Load(); n != 3 {
		t.Errorf("%d fetches; want 3 (k cached, the missing key fetched again)", n)
	}
	time.Sleep(time.Second) // past the TTL (≤1.2s after the first fetch)
	c.Get(ctx, "k")
	if n := src.n.Load(); n != 4 {
		t.Errorf("%d fetches; want 4 (k expired)", n)
	}
	for range 1000 {
		if d := c.expiry(false); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("expiry %s outside TTL ± 20%%", d)
		}
	}
}

// TestLookupBounds: the cache stays within its entry bound (and so its
// byte bound) under a key space ten times larger.
func TestLookupBounds(t *testing.T) {
	src := &counting{Source: sourceFunc(func(_ context.Context, key string) (Record, error) {
		return Record{Fields: map[string]string{"v": strings.Repeat("x", 100)}}, nil
	})}
	o := opts()
	o.MaxEntries, o.MaxBytes = 100, 100*512
	c, _ := New(src, o)
	for i := range 1000 {
		c.Get(context.Background(), "key"+strconv.Itoa(i))
	}
	c.c.CleanUp()
	if st := c.Stats(); st.Entries > 100 || st.Bytes > 100*512 || st.Evictions == 0 {
		t.Errorf("after 1000 keys: %+v; want at most 100 entries and 51200 bytes", st)
	}
}

type sourceFunc func(context.Context, string) (Record, error)

func (f sourceFunc) Fetch(ctx context.Context, k string) (Record, error) { return f(ctx, k) }

// TestLookupHTTP: the HTTP JSON source reads fields, 404 as missing,
// 5xx and non-objects as errors (not cached).
func TestLookupHTTP(t *testing.T) {
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/devices/d%201", "/devices/d 1":
			w.Write([]byte(`{"reputation": 0.25, "country": "DE", "flagged": true, "seen": null, "tags": ["a"]}`))
		case "/devices/boom":
			http.Error(w, "down", http.StatusBadGateway)
		case "/devices/list":
			w.Write([]byte(`[1,2]`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	src := &HTTP{URL: ts.URL + "/devices/{key}", Header: http.Header{"Authorization": {"Bearer t"}}}
	c, _ := New(src, opts())
	r, err := c.Get(context.Background(), "d 1")
	if err != nil || r.Missing || r.Fields["reputation"] != "0.25" || r.Fields["country"] != "DE" || r.Fields["flagged"] != "true" || len(r.Fields) != 3 {
		t.Fatalf("d 1 = %+v, %v", r, err)
	}
	if r, err := c.Get(context.Background(), "unknown"); err != nil || !r.Missing {
		t.Errorf("404 = %+v, %v; want missing", r, err)
	}
	for _, k := range []string{"boom", "list"} {
		if _, err := c.Get(context.Background(), k); err == nil {
			t.Errorf("%s: no error", k)
		}
	}
	before := calls.Load()
	c.Get(context.Background(), "boom")
	if calls.Load() != before+1 {
		t.Errorf("a failed fetch was cached")
	}
}
