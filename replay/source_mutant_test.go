package replay

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// failingSource yields the rows of a dataset.Reader and then, instead of
// io.EOF, an error.
type failingSource struct {
	*dataset.Reader
	left int
	err  error
}

func (s *failingSource) Next(req *vm.Request) (int, error) {
	if s.left == 0 {
		return 0, s.err
	}
	s.left--
	return s.Reader.Next(req)
}

// TestSourceErrorKeepsRowsReadBefore checks that a read error part-way
// through a batch is returned after the rows read before it were decided,
// none dropped, including those of the unfinished batch.
func TestSourceErrorKeepsRowsReadBefore(t *testing.T) {
	prog := compile(t, policy)
	bad := errors.New("row 523: bad amount")
	for _, rows := range []int{BatchSize + 10, 0, 3} {
		r, err := dataset.NewReader(strings.NewReader(data(BatchSize+20)), "r.csv", prog, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var decided atomic.Int64
		batches := 0
		_, err = Run(prog, &failingSource{Reader: r, left: rows, err: bad}, Options{Workers: 2}, Handler[struct{}]{
			Row:  func(*Batch[struct{}], int, *vm.Machine, *vm.Decision) error { decided.Add(1); return nil },
			Done: func(*Batch[struct{}]) error { batches++; return nil },
		})
		if wantBatches := (rows + BatchSize - 1) / BatchSize; !errors.Is(err, bad) || decided.Load() != int64(rows) || batches != wantBatches {
			t.Errorf("error after %d rows: err %v, %d rows decided in %d batches, want %d", rows, err, decided.Load(), batches, wantBatches)
		}
	}
}

// batchSizes replays rows rows through Rows (or, with src, Run) and
// returns the length of every batch Done saw, in order.
func batchSizes(t *testing.T, prog *vm.Program, rows int, fromSource bool, opts Options) ([]int, Stats) {
	t.Helper()
	var sizes []int
	h := Handler[struct{}]{
		Row:  func(*Batch[struct{}], int, *vm.Machine, *vm.Decision) error { return nil },
		Done: func(b *Batch[struct{}]) error { sizes = append(sizes, len(b.Reqs)); return nil },
	}
	var stats Stats
	var err error
	if fromSource {
		r, rerr := dataset.NewReader(strings.NewReader(data(rows)), "r.csv", prog, dataset.Options{})
		if rerr != nil {
			t.Fatal(rerr)
		}
		stats, err = Run(prog, r, opts, h)
	} else {
		stats, err = Rows(prog, requests(t, prog, rows), opts, h)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sizes, stats
}

// TestBatchesAreFullAndNeverEmpty checks the cut into batches: every batch
// but the last holds BatchSize rows, and a row count that is a multiple
// of BatchSize (or zero) gives no empty batch at the end.
func TestBatchesAreFullAndNeverEmpty(t *testing.T) {
	prog := compile(t, policy)
	for _, fromSource := range []bool{false, true} {
		for _, c := range []struct {
			rows int
			want []int
		}{
			{0, nil},
			{3, []int{3}},
			{2 * BatchSize, []int{BatchSize, BatchSize}},
			{2*BatchSize + 1, []int{BatchSize, BatchSize, 1}},
		} {
			got, _ := batchSizes(t, prog, c.rows, fromSource, Options{Workers: 2})
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("source %v, %d rows: batches %v, want %v", fromSource, c.rows, got, c.want)
			}
		}
	}
}

// TestWorkersAndStats checks that Workers 0 means one per CPU and that a
// policy without windows is neither replayed nor forced into order.
func TestWorkersAndStats(t *testing.T) {
	prog := compile(t, policy)
	_, stats := batchSizes(t, prog, BatchSize+1, false, Options{})
	if stats.Workers != runtime.NumCPU() || stats.Rows != BatchSize+1 || !stats.Replayed {
		t.Errorf("workers 0: stats %+v, want %d workers, replayed", stats, runtime.NumCPU())
	}
	noWin := compile(t, strings.NewReplacer("window seen = count() over 1h by user\n", "", "window spent = sum(amount) over 1h by user\n", "", "seen > 3 and spent > 900", "amount > 900").Replace(policy))
	_, stats = batchSizes(t, noWin, 10, false, Options{Workers: 3})
	if stats.Replayed || stats.Sequential || stats.Workers != 3 {
		t.Errorf("no windows: stats %+v, want 3 workers, neither replayed nor sequential", stats)
	}
}

// TestParamsReplaceTheProgramsValues checks that Options.Params is what
// the workers evaluate with.
func TestParamsReplaceTheProgramsValues(t *testing.T) {
	prog := compile(t, policy)
	reqs := requests(t, prog, 200)
	want := reference(t, prog, reqs)
	params := prog.ParamValues()
	for i := range params {
		params[i] = 0
	}
	var changed atomic.Int64
	_, err := Rows(prog, reqs, Options{Workers: 2, Params: params}, Handler[struct{}]{
		Row: func(b *Batch[struct{}], i int, _ *vm.Machine, d *vm.Decision) error {
			if d.Score != want[b.Start+i] {
				changed.Add(1)
			}
			return nil
		},
	})
	if err != nil || changed.Load() == 0 {
		t.Errorf("err %v; zeroed parameters changed %d of %d scores", err, changed.Load(), len(reqs))
	}
}

// orderStore is a WindowStore that fails when it sees an event older than
// one it saw before, and holds the first event back for a while, so that
// a replay which let its workers observe windows themselves would show it.
type orderStore struct {
	vm.WindowStore
	mu       sync.Mutex
	last     float64
	calls    int
	outOfOrd int
}

func (s *orderStore) Observe(obs []vm.WindowObs, out []float64) error {
	s.mu.Lock()
	s.calls++
	first := s.calls == 1
	s.mu.Unlock()
	if first {
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(obs) > 0 {
		if obs[0].T < s.last {
			s.outOfOrd++
		}
		s.last = obs[0].T
	}
	return s.WindowStore.Observe(obs, out)
}

// TestWindowsSeeEventsInInputOrder checks that with parallel workers the
// window store still gets every event in input order (the feed stage), even
// when the first row is slow.
func TestWindowsSeeEventsInInputOrder(t *testing.T) {
	prog := compile(t, policy)
	reqs := requests(t, prog, 4*BatchSize)
	store := &orderStore{WindowStore: windows.NewMemory(prog, 0)}
	_, err := Rows(prog, reqs, Options{Workers: 4, Windows: store}, Handler[struct{}]{
		Row: func(*Batch[struct{}], int, *vm.Machine, *vm.Decision) error { return nil },
	})
	if err != nil || store.calls != len(reqs) || store.outOfOrd != 0 {
		t.Errorf("err %v; %d observations for %d rows, %d out of order", err, store.calls, len(reqs), store.outOfOrd)
	}
}
