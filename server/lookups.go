package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/riskforge/riskforge/lookup"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
)

// lookupSet fetches the lookups of one version through their caches and
// fills their fields into decoded requests.
type lookupSet struct {
	prog   *vm.Program
	caches []*lookup.Cache
	names  [][]string // per lookup, field names without the LOOKUP. prefix
	failed []int      // per lookup, the input failed(LOOKUP) when a rule reads it, else -1
	close  []func()
}

// newLookupSet connects every lookup of prog to the source the config
// names and gives it a cache, registered in reg.
func newLookupSet(prog *vm.Program, digest string, cfg map[string]config.Lookup, reg prometheus.Registerer) (ls *lookupSet, err error) {
	ls = &lookupSet{prog: prog}
	defer func() {
		if err != nil {
			ls.shutdown()
		}
	}()
	for _, l := range prog.Lookups {
		c, ok := cfg[l.Name]
		var fields []string
		for _, f := range l.Fields {
			fields = append(fields, strings.TrimPrefix(prog.Inputs[f].Name, l.Name+"."))
		}
		var src lookup.Source
		switch l.Source {
		case "redis":
			if !ok || c.Redis.Addr == "" {
				return nil, fmt.Errorf("lookup %s: set lookups.%s.redis.addr in the config", l.Name, l.Name)
			}
			pass, err := c.Redis.Password()
			if err != nil {
				return nil, fmt.Errorf("lookups.%s.redis.password_file: %w", l.Name, err)
			}
			rc := redis.NewClient(&redis.Options{Addr: c.Redis.Addr, DB: c.Redis.DB, Username: c.Redis.Username, Password: pass,
				DialTimeout: time.Second, ReadTimeout: time.Duration(l.Timeout * float64(time.Second)), MaxRetries: -1})
			ls.close = append(ls.close, func() { rc.Close() })
			src = &lookup.Redis{Client: rc, Fields: fields}
		case "http":
			h := http.Header{}
			for k, v := range c.Headers {
				h.Set(k, v)
			}
			src = &httpTemplate{base: &lookup.HTTP{Header: h, Client: &http.Client{}}}
		}
		entries, bytes := c.Bounds()
		cache, err := lookup.New(src, lookup.Options{Name: l.Name, TTL: time.Duration(l.TTL * float64(time.Second)),
			Timeout: time.Duration(l.Timeout * float64(time.Second)), MaxEntries: entries, MaxBytes: bytes})
		if err != nil {
			return nil, err
		}
		unreg, err := cache.Register(reg, prometheus.Labels{"policy": prog.Name, "version": prog.Version, "digest": digest})
		if err != nil {
			return nil, fmt.Errorf("lookup %s: metrics: %w", l.Name, err)
		}
		ls.close = append(ls.close, unreg)
		ls.caches = append(ls.caches, cache)
		ls.names = append(ls.names, fields)
		ls.failed = append(ls.failed, prog.InputIndex("failed("+l.Name+")"))
	}
	return ls, nil
}

// httpTemplate is an http source whose key is already the URL.
type httpTemplate struct{ base *lookup.HTTP }

func (h *httpTemplate) Fetch(ctx context.Context, u string) (lookup.Record, error) {
	return h.base.FetchURL(ctx, u)
}

func (ls *lookupSet) shutdown() {
	for _, f := range ls.close {
		f()
	}
}

// fill fetches every lookup of req and stores its fields; a field the
// record lacks stays absent. A failed fetch (timeout, source down, a
// value of the wrong type) leaves the lookup's fields absent and marks
// the request degraded: the policy's exists() guards decide without it.
// A failed or timed-out fetch also sets failed(LOOKUP) when a rule reads
// it (a value of the wrong type does not: the store answered).
func (ls *lookupSet) fill(ctx context.Context, req *vm.Request) {
	p := ls.prog
	req.Degraded = false
	var key []byte
	for i, l := range p.Lookups {
		for _, f := range l.Fields {
			req.Present[f] = false
		}
		key = p.AppendLookupKey(key[:0], i, req)
		rec, err := ls.caches[i].Get(ctx, string(key))
		if fi := ls.failed[i]; fi >= 0 {
			// failed(LOOKUP): the fetch failed or timed out, as opposed to
			// a record that is not there. Set either way, so a request
			// cannot claim it.
			req.Num[p.Inputs[fi].Slot], req.Present[fi] = 0, true
			if err != nil {
				req.Num[p.Inputs[fi].Slot] = 1
			}
		}
		if err != nil {
			req.Degraded = true
			continue
		}
		if rec.Missing {
			continue
		}
		for j, f := range l.Fields {
			text, ok := rec.Fields[ls.names[i][j]]
			if !ok {
				continue
			}
			if p.SetText(req, int(f), text) != nil {
				req.Present[f] = false
				req.Degraded = true
			}
		}
	}
}

// hitRate summarises the caches for /readyz.
func (ls *lookupSet) report() string {
	var parts []string
	for i, c := range ls.caches {
		st := c.Stats()
		parts = append(parts, fmt.Sprintf("%s hit rate %.3f (%d lookups, %d entries, %d fetch errors)",
			ls.prog.Lookups[i].Name, st.HitRatio(), st.Hits+st.Misses, st.Entries, st.FetchErrors))
	}
	return strings.Join(parts, "; ")
}
