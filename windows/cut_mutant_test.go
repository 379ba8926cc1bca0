package windows

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// TestHoldRacingCuts: calls take generations while cuts close them as
// fast as they can. A Hold that loses the race with a cut (it counted
// itself in a generation the cut has just closed) must undo its count
// and take the next generation; a count left behind would make every
// later cut of that parity wait for a call that does not exist.
func TestHoldRacingCuts(t *testing.T) {
	s := New(Config{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 64 {
					g := s.Hold()
					if cur := s.Generation(); g != cur && g+1 != cur {
						t.Errorf("held generation %d while the store is at %d", g, cur)
					}
					s.Release(g)
				}
			}
		}()
	}
	// About one cut in fifty meets a Hold between its two reads of the
	// generation here; 500 cuts take 0.2 s on an idle machine.
	deadline := time.Now().Add(3 * time.Second)
	cuts := 0
	for ; cuts < 500 && time.Now().Before(deadline); cuts++ {
		c, err := s.BeginCut(time.Second)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("cut %d: %v", cuts, err)
		}
		c.end()
	}
	close(stop)
	wg.Wait()
	for p := range s.active {
		if n := s.active[p].Load(); n != 0 {
			t.Errorf("%d calls of parity %d still counted after every call released", n, p)
		}
	}
	if _, err := s.BeginCut(100 * time.Millisecond); err != nil {
		t.Fatalf("a cut after the race: %v", err)
	}
	t.Logf("%d cuts", cuts)
}

// TestSetGenerationAbove: after a restart the store's generation is made
// greater than the snapshot's, whatever it was: raised when it is at or
// below it, left alone when already above.
func TestSetGenerationAbove(t *testing.T) {
	for _, c := range []struct{ start, above, want uint64 }{
		{1, 0, 1},   // already above
		{1, 1, 2},   // equal: must move past it
		{1, 41, 42}, // below
		{50, 49, 50},
		{50, 50, 51},
	} {
		s := New(Config{})
		s.SetGenerationAbove(c.start - 1) // New starts at 1
		if s.Generation() != c.start {
			t.Fatalf("start: generation %d, want %d", s.Generation(), c.start)
		}
		s.SetGenerationAbove(c.above)
		if got := s.Generation(); got != c.want {
			t.Errorf("at %d, SetGenerationAbove(%d): generation %d, want %d", c.start, c.above, got, c.want)
		}
		if g := s.Hold(); g <= c.above {
			t.Errorf("at %d, SetGenerationAbove(%d): a call holds generation %d", c.start, c.above, g)
		} else {
			s.Release(g)
		}
	}
}

// TestCutWaitsThenGivesUp: a cut polls for the calls of the generation it
// closes past its first hundred quick spins: it succeeds when the last
// call releases late, and gives up once its wait is over, long after the
// spins, rather than poll on forever.
func TestCutWaitsThenGivesUp(t *testing.T) {
	s := New(Config{})
	g := s.Hold()
	go func() {
		time.Sleep(150 * time.Millisecond)
		s.Release(g)
	}()
	start := time.Now()
	c, err := s.BeginCut(10 * time.Second)
	if err != nil {
		t.Fatalf("cut waiting for a late release: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("the cut returned after %v, before the call released", el)
	}
	c.end()

	g = s.Hold()
	defer s.Release(g)
	const wait = 500 * time.Millisecond
	res := make(chan error, 1)
	start = time.Now()
	go func() {
		c, err := s.BeginCut(wait)
		if err == nil {
			c.end()
		}
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, ErrCutStuck) {
			t.Fatalf("cut with a stuck holder: %v", err)
		}
		if el := time.Since(start); el < wait {
			t.Fatalf("the cut gave up after %v, before its wait of %v", el, wait)
		}
	case <-time.After(wait + 5*time.Second):
		t.Fatalf("the cut still polls %v after its wait of %v", wait+5*time.Second, wait)
	}
}

// TestCutKeepsKeyEvictedAfterIt: a key that a later call evicts while
// the cut is open is gone from the live store but still in the snapshot,
// as of the cut.
func TestCutKeepsKeyEvictedAfterIt(t *testing.T) {
	m := testStore(Config{MaxKeys: numShards}, "count") // one key per shard
	a := vm.WindowKey{Str: "a"}
	b := vm.WindowKey{Str: sameShard(m, a.Str, 1)[0]}
	observe1(m, 0, a, 100, 1, "")
	observe1(m, 0, a, 101, 1, "")
	c, err := m.st.BeginCut(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	observe1(m, 0, b, 102, 1, "") // a later generation: evicts a
	if st := m.st.Stats(); st.Evicted != 1 || st.Keys != 1 {
		t.Fatalf("after the eviction: %+v", st)
	}
	var buf bytes.Buffer
	info, err := c.Write(&buf, 0)
	if err != nil || info.Cells != 1 {
		t.Fatalf("snapshot: %+v, %v; want a's one cell", info, err)
	}
	r := testStore(Config{}, "count")
	if _, err := r.st.RestoreSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if got, gotB := read(r, 0, a, 102), read(r, 0, b, 102); got != 2 || gotB != 0 {
		t.Errorf("restored counts a=%v b=%v, want 2 and 0 (the cut's view)", got, gotB)
	}
	checkPools(t, m.st)
	checkPools(t, r.st)
}

// TestCutLosesKeyEvictedByItsOwnGeneration: a call of the cut's own
// generation (held before the cut, finishing while it waits) that evicts
// a key takes the key out of the snapshot too, as out of the live store:
// the snapshot holds that call's effects, the eviction included.
func TestCutLosesKeyEvictedByItsOwnGeneration(t *testing.T) {
	m := testStore(Config{MaxKeys: numShards}, "count") // one key per shard
	a := vm.WindowKey{Str: "a"}
	b := vm.WindowKey{Str: sameShard(m, a.Str, 1)[0]}
	observe1(m, 0, a, 100, 1, "")
	g := m.Hold()
	cut := make(chan *Cut, 1)
	go func() {
		c, err := m.st.BeginCut(10 * time.Second)
		if err != nil {
			t.Error(err)
		}
		cut <- c
	}()
	for m.st.Generation() == g {
		time.Sleep(time.Millisecond) // until the cut has closed g
	}
	out := []float64{0}
	if err := m.ObserveAt(g, []vm.WindowObs{{Key: b, T: 101, V: 1, Add: true}}, out); err != nil {
		t.Fatal(err)
	}
	m.Release(g)
	c := <-cut
	if c == nil {
		t.FailNow()
	}
	var buf bytes.Buffer
	if info, err := c.Write(&buf, 0); err != nil || info.Cells != 1 {
		t.Fatalf("snapshot: %+v, %v; want b's one cell", info, err)
	}
	r := testStore(Config{}, "count")
	if _, err := r.st.RestoreSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if gotA, gotB := read(r, 0, a, 101), read(r, 0, b, 101); gotA != 0 || gotB != 1 {
		t.Errorf("restored counts a=%v b=%v, want 0 and 1 (the cut holds the eviction)", gotA, gotB)
	}
	checkPools(t, m.st)
}

// TestCutImageOfLongKey: the cut's image of a key too long for its cell
// is freed once the shard is written without taking the live cell's key
// string with it: the key is still found and counts on.
func TestCutImageOfLongKey(t *testing.T) {
	long := vm.WindowKey{Str: "customer-" + strconv.Itoa(1e15) + "@example.com"} // over inlineKey bytes
	m := testStore(Config{}, "count")
	observe1(m, 0, long, 100, 1, "")
	c, err := m.st.BeginCut(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	observe1(m, 0, long, 101, 1, "") // a later generation: the cut keeps an image
	var buf bytes.Buffer
	if info, err := c.Write(&buf, 0); err != nil || info.Cells != 1 {
		t.Fatalf("snapshot: %+v, %v", info, err)
	}
	if got := observe1(m, 0, long, 102, 1, ""); got != 3 || m.Keys() != 1 {
		t.Fatalf("long key after the cut: count %v with %d keys, want 3 and 1", got, m.Keys())
	}
	checkPools(t, m.st)
}
