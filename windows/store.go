package windows

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/riskforge/riskforge/vm"
)

// DefaultMaxKeys caps the (window, key) pairs a store holds when the
// configuration does not: about 200 MB of cells (see docs/STATE.md).
const DefaultMaxKeys = 1 << 20

// MaxTime bounds event times the store accepts (Unix seconds, about the
// year 33658): beyond it bucket arithmetic loses meaning. Serving and
// replay refuse far narrower ranges at their input; this is the store's
// own last line.
const MaxTime = 1e12

// ErrBadTime is returned for a NaN, infinite or out-of-range event time;
// the event is not added and the window reads 0.
var ErrBadTime = errors.New("windows: event time is not a finite Unix time within ±1e12 s")

const (
	numShards    = 64
	evictSamples = 5
)

// Config sizes a store.
type Config struct {
	// MaxKeys caps the (window, key) pairs held; 0 means DefaultMaxKeys.
	// When full, the least recently seen of a few sampled keys is evicted.
	MaxKeys int
}

// Store is the in-process state of every registered window. It is safe
// for concurrent use.
type Store struct {
	shards      [numShards]shard
	maxPerShard int
	seed        maphash.Seed // keyHash's, per store

	regMu sync.Mutex
	specs atomic.Pointer[[]registered] // by window id; append-only
	ids   map[string]int               // signature -> id

	evicted, expired, rejected atomic.Uint64

	// Generations make snapshots consistent cuts (cut.go): every store
	// call runs under a generation; a cut closes the current one.
	gen    atomic.Uint64
	active [2]atomic.Int64 // calls holding a generation, by its parity
	cutMu  sync.Mutex      // one cut at a time
}

type registered struct {
	sig string
	spec
}

// ckey identifies one window's state for one key.
type ckey struct {
	w   uint32
	str string
	num float64
}

type shard struct {
	mu    sync.Mutex
	cells cellMap
	tick  uint32
	// order lists the hashes held in insertion order, one entry per
	// hash rather than per cell (with stale entries for hashes since
	// dropped, and repeats for hashes dropped and held again), so a sweep
	// can walk it in short, resumable batches; sweepAt and keptAt are the
	// walk's read and write indexes. Hashes rather than keys: 8 bytes an
	// entry instead of 32, and nothing in it for the collector to scan.
	order           []uint64
	sweepAt, keptAt int
	// cut is the generation of a cut whose snapshot has not yet written
	// this shard (0: none); cow holds the cut's image of the keys that
	// later generations changed since (nil: absent in the cut).
	cut uint64
	cow map[ckey]uint32 // index in cells of the image; 0: absent in the cut
	_   [16]byte        // keep shards' locks on separate cache lines
}

// advance moves the shard's clock one access on. It wraps: ages are
// differences of ticks (heads.sample), which wrap alike.
func (sh *shard) advance() { sh.tick++ }

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	s := &Store{maxPerShard: max(1, cfg.MaxKeys/numShards), ids: map[string]int{}, seed: maphash.MakeSeed()}
	s.specs.Store(&[]registered{})
	s.gen.Store(1)
	return s
}

// Register returns the id of the window with signature sig, adding it if
// new. Programs whose windows have the same signature share their state,
// which is how a reloaded policy keeps its velocity counts and how a
// snapshot finds its windows again after a restart.
func (s *Store) Register(sig, agg string, over float64) (int, error) {
	kind, ok := aggKinds[agg]
	if !ok {
		return 0, fmt.Errorf("windows: unknown aggregate %q", agg)
	}
	if !(over > 0) || over > MaxTime {
		return 0, fmt.Errorf("windows: window length %g s out of range", over)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if id, ok := s.ids[sig]; ok {
		return id, nil
	}
	old := *s.specs.Load()
	specs := append(old[:len(old):len(old)], registered{sig: sig, spec: spec{agg: kind, over: over}})
	s.specs.Store(&specs)
	s.ids[sig] = len(specs) - 1
	return len(specs) - 1, nil
}

// Signature names a program's window by everything that decides its
// contents: name, aggregate, length, key inputs, events and condition.
func Signature(p *vm.Program, w vm.Window) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%g|", w.Name, w.Agg, w.OverSec)
	for i, k := range w.Keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(keyName(p, k))
	}
	b.WriteByte('|')
	for i, e := range w.Events {
		if i > 0 {
			b.WriteByte(',')
		}
		if int(e) < len(p.Events) {
			b.WriteString(p.Events[e])
		}
	}
	b.WriteString("|" + w.Where)
	return b.String()
}

func keyName(p *vm.Program, k vm.KeyPart) string {
	for _, in := range p.Inputs {
		if in.Slot == k.Slot && (in.Type == vm.TString) == k.String {
			return in.Name
		}
	}
	return fmt.Sprintf("slot%d", k.Slot)
}

// Memory is a program's view of a store: its windows by index, mapped to
// the store's window ids. It implements vm.WindowStore.
type Memory struct {
	st  *Store
	ids []uint32
}

// NewMemory returns a fresh store holding at most maxKeys keys (0: the
// default) and prog's view of it: what replay and tests use.
func NewMemory(prog *vm.Program, maxKeys int) *Memory {
	m, err := New(Config{MaxKeys: maxKeys}).Bind(prog, "")
	if err != nil {
		panic(err) // a prepared program has valid windows
	}
	return m
}

// Bind registers prog's windows under the signature prefix lane and
// returns the program's view.
func (s *Store) Bind(prog *vm.Program, lane string) (*Memory, error) {
	m := &Memory{st: s, ids: make([]uint32, len(prog.Windows))}
	for i, w := range prog.Windows {
		id, err := s.Register(lane+Signature(prog, w), w.Agg, w.OverSec)
		if err != nil {
			return nil, fmt.Errorf("window %s: %w", w.Name, err)
		}
		m.ids[i] = uint32(id)
	}
	return m, nil
}

// Store returns the store m is a view of.
func (m *Memory) Store() *Store { return m.st }

// Observe implements vm.WindowStore: ObserveAt under a generation held
// for the call alone.
func (m *Memory) Observe(obs []vm.WindowObs, out []float64) error {
	g := m.st.Hold()
	err := m.ObserveAt(g, obs, out)
	m.st.Release(g)
	return err
}

// Hold returns the current generation and keeps it open until Release
// (see Store.Hold).
func (m *Memory) Hold() uint64 { return m.st.Hold() }

// Release ends a Hold.
func (m *Memory) Release(gen uint64) { m.st.Release(gen) }

// ObserveAt is Observe under generation gen, which the caller holds
// (Hold). A caller that records the call in the audit log holds the
// generation until the record is appended, and records gen with it, so a
// snapshot's cut and the log agree on which calls the snapshot holds.
func (m *Memory) ObserveAt(gen uint64, obs []vm.WindowObs, out []float64) error {
	specs := *m.st.specs.Load()
	var err error
	for i := range obs {
		o := &obs[i]
		if !(math.Abs(o.T) <= MaxTime) {
			out[i], err = 0, ErrBadTime
			m.st.rejected.Add(1)
			continue
		}
		id := m.ids[i]
		sp := specs[id].spec
		v := o.V
		if sp.agg == aggDistinct {
			v = math.Float64frombits(hashValue(o.S, o.V))
		}
		out[i] = m.st.observe(ckey{w: id, str: o.Key.Str, num: o.Key.Num}, sp, o.T, v, o.Add, gen)
	}
	return err
}

func (s *Store) observe(k ckey, sp spec, t, v float64, add bool, gen uint64) float64 {
	h := s.keyHash(k)
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	sh.advance()
	if sh.cut != 0 {
		sh.cutObserve(h, k, sp, t, v, add, gen)
	}
	c := sh.cells.get(h, k)
	if c == nil {
		if !add {
			sh.mu.Unlock()
			return 0 // nothing to read; do not spend a key on it
		}
		if sh.cells.len() >= s.maxPerShard {
			s.evicted.Add(uint64(s.evictOne(sh, h, gen)))
		}
		var i uint32
		i, c = sh.cells.newCell()
		if sh.cells.add(h, k, i) {
			sh.order = append(sh.order, h) // one entry per hash, not per cell
		}
		if len(sh.order) > 2*s.maxPerShard+64 && sh.sweepAt == 0 {
			sh.compactOrder() // evictions left stale entries; amortised O(1)
		}
	}
	sh.cells.touch(h, sh.tick)
	agg := c.observe(&sh.cells, sp, t, v, add)
	sh.mu.Unlock()
	return agg
}

// evictOne drops the key least recently used of evictSamples held in
// the shard (heads.sample), as Redis approximates LRU, with its other
// windows of the same block: every cell sharing its hash (see cellMap),
// which a decision reads together. It returns how many cells it
// dropped. h is the hash of the key that needs the room (the sample
// starts at its slot), gen its call's generation (see cutEvict).
//
// The access tick is the table slot's, so the draws read a few
// neighbouring slots of h's, and the victim's hash and chain come with
// them.
// Ticks per cell, in an array of their own, cost a random page for each
// draw and another for the victim's cell before its slot could be
// found; in a full store each random page is a TLB miss of about 400 ns
// on a virtual machine. Dropping a key's windows together halves the
// evictions of traffic whose every new user brings a key for each
// window on user_id (docs/OPERATIONS.md §15).
func (s *Store) evictOne(sh *shard, h, gen uint64) int {
	victim, ok := sh.cells.m.sample(h, sh.tick)
	if !ok {
		return 0 // no hash held: nothing to evict (a full shard has one)
	}
	return sh.cells.unlinkAll(victim, func(i uint32) {
		if sh.cut == 0 || !sh.cutEvict(i, gen) {
			sh.cells.free(i)
		}
	})
}

// Sweep drops keys idle for longer than their window at time now (Unix
// seconds) and returns how many it dropped. It walks each shard's keys in
// batches of sweepBatch, taking the lock only for one batch, so a sweep
// never stalls requests for long however many keys there are.
func (s *Store) Sweep(now float64) int {
	specs := *s.specs.Load()
	dropped := 0
	for i := range s.shards {
		sh := &s.shards[i]
		for {
			n, more := sh.sweepBatch(specs, now)
			dropped += n
			if !more {
				break
			}
		}
	}
	s.expired.Add(uint64(dropped))
	return dropped
}

const sweepBatch = 256

// compactOrder drops order entries of hashes no longer held.
func (sh *shard) compactOrder() {
	kept := sh.order[:0]
	for _, h := range sh.order {
		if sh.cells.holds(h) {
			kept = append(kept, h)
		}
	}
	sh.order = kept
}

// sweepBatch examines the next keys of the shard's order, dropping idle
// ones and compacting the order in place; it reports whether keys remain.
func (sh *shard) sweepBatch(specs []registered, now float64) (dropped int, more bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.cut != 0 {
		return 0, false // a snapshot is copying this shard; sweep it next time
	}
	end := min(sh.sweepAt+sweepBatch, len(sh.order))
	for ; sh.sweepAt < end; sh.sweepAt++ {
		h := sh.order[sh.sweepAt]
		n, live := sh.cells.dropIdle(h, func(c *cell) bool { return c.last <= now-specs[c.w].over })
		dropped += n
		if live {
			sh.order[sh.keptAt] = h
			sh.keptAt++
		}
	}
	if sh.sweepAt < len(sh.order) {
		return dropped, true
	}
	sh.order = sh.order[:sh.keptAt]
	if cap(sh.order) > 4*len(sh.order)+1024 {
		sh.order = append([]uint64(nil), sh.order...)
	}
	sh.sweepAt, sh.keptAt = 0, 0
	return dropped, false
}

// Stats are a store's counters.
type Stats struct {
	Keys     int    // (window, key) pairs held
	Bytes    int    // memory held by them: cells, map entries and key strings (estimate)
	Evicted  uint64 // keys evicted because the store was full
	Expired  uint64 // idle keys dropped by Sweep
	Rejected uint64 // events refused for their time
}

// tableEntryBytes estimates a table entry's cost (heads): a 16-byte slot
// in a table between loadMax/2 and loadMax full, about half on average.
const tableEntryBytes = 32

// Stats returns the store's counters, taking each shard's lock in turn.
func (s *Store) Stats() Stats {
	st := Stats{Evicted: s.evicted.Load(), Expired: s.expired.Load(), Rejected: s.rejected.Load()}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Keys += sh.cells.len()
		st.Bytes += sh.cells.bytes()
		sh.mu.Unlock()
	}
	return st
}

// Keys returns the number of (window, key) pairs held.
func (s *Store) Keys() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += s.shards[i].cells.len()
		s.shards[i].mu.Unlock()
	}
	return n
}

// Keys returns the number of keys held by m's store.
func (m *Memory) Keys() int { return m.st.Keys() }

// Sweep drops idle keys of m's store (see Store.Sweep).
func (m *Memory) Sweep(now float64) int { return m.st.Sweep(now) }
