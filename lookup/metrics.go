package lookup

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Register exports the cache's counters to reg, labelled with the
// lookup's name and extra: hits, misses, fetches, fetch errors and time,
// evictions, entries and bytes held. unregister removes them again.
func (c *Cache) Register(reg prometheus.Registerer, extra prometheus.Labels) (unregister func(), err error) {
	l := prometheus.Labels{"lookup": c.o.Name}
	for k, v := range extra {
		l[k] = v
	}
	var done []prometheus.Collector
	unregister = func() {
		for _, col := range done {
			reg.Unregister(col)
		}
	}
	counter := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: l}, func() float64 { return f(c.Stats()) })
	}
	gauge := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: l}, func() float64 { return f(c.Stats()) })
	}
	for _, col := range []prometheus.Collector{
		counter("riskforge_lookup_hits_total", "Lookups answered from the cache (missing keys remembered included).", func(s Stats) float64 { return float64(s.Hits) }),
		counter("riskforge_lookup_misses_total", "Lookups that had to fetch (or wait for another caller's fetch).", func(s Stats) float64 { return float64(s.Misses) }),
		counter("riskforge_lookup_fetches_total", "Fetches from the source.", func(s Stats) float64 { return float64(s.Fetches) }),
		counter("riskforge_lookup_fetch_errors_total", "Fetches that failed or timed out (not cached).", func(s Stats) float64 { return float64(s.FetchErrors) }),
		counter("riskforge_lookup_fetch_seconds_total", "Time spent fetching from the source; divide by fetches for the mean.", func(s Stats) float64 { return s.FetchTime.Seconds() }),
		counter("riskforge_lookup_evictions_total", "Entries evicted to stay within the bounds.", func(s Stats) float64 { return float64(s.Evictions) }),
		gauge("riskforge_lookup_cache_entries", "Entries in the cache.", func(s Stats) float64 { return float64(s.Entries) }),
		gauge("riskforge_lookup_cache_bytes", "Estimated bytes (weight) in the cache.", func(s Stats) float64 { return float64(s.Bytes) }),
	} {
		if err := reg.Register(col); err != nil {
			unregister()
			return nil, err
		}
		done = append(done, col)
	}
	return unregister, nil
}
