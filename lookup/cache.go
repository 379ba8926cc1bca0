// Package lookup fetches stored features by key — a customer profile in
// Redis, a device reputation behind an HTTP(S) JSON API — through a
// cache in front of every source. The cache is otter (v2): W-TinyLFU
// admission, so a scan of one-off keys does not flush the frequently
// used ones; bounded in bytes and entries; one fetch per key however
// many decisions ask for it at once (singleflight); missing keys cached
// too (penetration); and every expiry jittered so that keys loaded
// together do not expire together (avalanche). A fetch that fails or
// times out is not cached: the caller falls back and marks its decision
// degraded.
//
// Policies declare lookups (docs/LANGUAGE.md); riskd's server builds one
// Cache per lookup and loaded version (docs/OPERATIONS.md).
package lookup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

// Record is one entity's stored features: field name to value as the
// source returned it (the caller converts to the declared type). Missing
// says the key does not exist at the source.
type Record struct {
	Fields  map[string]string
	Missing bool
}

// bytes estimates what the record holds in memory.
func (r Record) bytes() int {
	n := 48
	for k, v := range r.Fields {
		n += len(k) + len(v) + 32
	}
	return n
}

// Source fetches a record by key; a key that does not exist is a Record
// with Missing set, not an error.
type Source interface {
	Fetch(ctx context.Context, key string) (Record, error)
}

// ErrTimeout is returned when a fetch does not finish within the
// lookup's timeout.
var ErrTimeout = errors.New("lookup timed out")

// Options configure a Cache.
type Options struct {
	// Name labels the metrics (the lookup's name in the policy).
	Name string
	// TTL is how long a fetched record is used; NegativeTTL how long a
	// missing key is remembered (default TTL/5).
	TTL, NegativeTTL time.Duration
	// Jitter spreads each expiry uniformly over ±Jitter×TTL (default 0.1).
	Jitter float64
	// Timeout bounds one Get, waiting for another caller's fetch included.
	Timeout time.Duration
	// MaxBytes bounds the records' estimated memory; MaxEntries their
	// number (each entry weighs at least MaxBytes/MaxEntries).
	MaxBytes   uint64
	MaxEntries int
}

// Cache is a Source with a cache in front. It is safe for concurrent use.
type Cache struct {
	o     Options
	src   Source
	c     *otter.Cache[string, Record]
	st    *stats.Counter
	floor uint32
}

// New returns a cache over src.
func New(src Source, o Options) (*Cache, error) {
	switch {
	case o.TTL <= 0:
		return nil, fmt.Errorf("lookup %s: ttl must be positive", o.Name)
	case o.Timeout <= 0:
		return nil, fmt.Errorf("lookup %s: timeout must be positive", o.Name)
	case o.MaxBytes == 0 || o.MaxEntries <= 0:
		return nil, fmt.Errorf("lookup %s: the cache needs a byte and an entry bound", o.Name)
	case o.Jitter < 0 || o.Jitter >= 1:
		return nil, fmt.Errorf("lookup %s: jitter must be in [0, 1)", o.Name)
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = o.TTL / 5
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	c := &Cache{o: o, src: src, st: stats.NewCounter(), floor: uint32(max(1, o.MaxBytes/uint64(o.MaxEntries)))}
	var err error
	c.c, err = otter.New(&otter.Options[string, Record]{
		MaximumWeight: o.MaxBytes,
		Weigher: func(k string, r Record) uint32 {
			return max(c.floor, uint32(len(k)+r.bytes()))
		},
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, Record]) time.Duration {
			return c.expiry(e.Value.Missing)
		}),
		StatsRecorder: c.st,
	})
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", o.Name, err)
	}
	return c, nil
}

// expiry is the TTL (or negative TTL) with jitter.
func (c *Cache) expiry(missing bool) time.Duration {
	ttl := c.o.TTL
	if missing {
		ttl = c.o.NegativeTTL
	}
	j := (rand.Float64()*2 - 1) * c.o.Jitter
	return time.Duration(float64(ttl) * (1 + j))
}

// Get returns the record for key from the cache or, on a miss, from the
// source (one fetch for all concurrent callers of a key). It fails with
// ErrTimeout after Options.Timeout, or with the source's error; failures
// are not cached.
func (c *Cache) Get(ctx context.Context, key string) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	r, err := c.c.Get(ctx, key, otter.LoaderFunc[string, Record](func(ctx context.Context, key string) (Record, error) {
		return c.src.Fetch(ctx, key)
	}))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return Record{}, fmt.Errorf("lookup %s %q: %w (%s)", c.o.Name, key, ErrTimeout, c.o.Timeout)
		}
		return Record{}, fmt.Errorf("lookup %s %q: %w", c.o.Name, key, err)
	}
	return r, nil
}

// Stats are a cache's counters since it was made.
type Stats struct {
	Hits, Misses, Fetches, FetchErrors, Evictions uint64
	FetchTime                                     time.Duration
	Entries                                       int
	Bytes                                         uint64
}

// HitRatio is hits over requests (0 without requests).
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	s := c.st.Snapshot()
	return Stats{Hits: s.Hits, Misses: s.Misses, Fetches: s.LoadSuccesses + s.LoadFailures, FetchErrors: s.LoadFailures,
		Evictions: s.Evictions, FetchTime: s.TotalLoadTime, Entries: c.c.EstimatedSize(), Bytes: c.c.WeightedSize()}
}
