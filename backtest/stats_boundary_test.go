package backtest

import (
	"bufio"
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/replay"
)

func TestRowsPerSecond(t *testing.T) {
	for _, tc := range []struct {
		s    Stats
		want float64
	}{
		{Stats{Rows: 10, Elapsed: 2 * time.Second}, 5},
		{Stats{Rows: 3, Elapsed: 500 * time.Millisecond}, 6},
		{Stats{Rows: 10, Elapsed: 0}, 0},
		{Stats{Rows: 10, Elapsed: -time.Second}, 0},
		{Stats{Rows: 0, Elapsed: time.Second}, 0},
	} {
		if got := tc.s.RowsPerSecond(); got != tc.want {
			t.Errorf("%+v: %v rows/s, want %v", tc.s, got, tc.want)
		}
	}
}

// TestReadErrorKeepsEarlierRows: a bad row stops the run with an error
// naming its line, and the rows before it are still decided and written.
func TestReadErrorKeepsEarlierRows(t *testing.T) {
	prog := compile(t, policy)
	for _, good := range []int{0, 1, 3, replay.BatchSize, replay.BatchSize + 2} {
		lines := strings.Split(strings.TrimSuffix(data(good), "\n"), "\n")
		csv := strings.Join(append(lines, "u1,not-a-number,1,0"), "\n") + "\n"
		r, err := dataset.NewReader(strings.NewReader(csv), "b.csv", prog, dataset.Options{Label: "bad"})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, stats, err := Run(prog, r, Options{Workers: 2, Out: &out})
		if err == nil || !strings.Contains(err.Error(), "b.csv:"+strconv.Itoa(good+2)) {
			t.Fatalf("%d good rows: error %v, want one at line %d", good, err, good+2)
		}
		n := 0
		for sc := bufio.NewScanner(&out); sc.Scan(); n++ {
		}
		if n != good || stats.Rows != good {
			t.Fatalf("%d good rows: %d decisions written, %d counted", good, n, stats.Rows)
		}
	}
}

// TestRunStats: Workers 0 means one per CPU; a policy without windows is
// neither replayed nor sequential.
func TestRunStats(t *testing.T) {
	prog := compile(t, policy)
	for _, tc := range []struct{ workers, want int }{{0, runtime.NumCPU()}, {-1, runtime.NumCPU()}, {1, 1}, {3, 3}} {
		r, err := dataset.NewReader(strings.NewReader(data(20)), "b.csv", prog, dataset.Options{Label: "bad"})
		if err != nil {
			t.Fatal(err)
		}
		_, stats, err := Run(prog, r, Options{Workers: tc.workers})
		if err != nil || stats.Rows != 20 || stats.Workers != tc.want || stats.Replayed || stats.Sequential {
			t.Errorf("Workers %d: %+v %v; want %d rows on %d workers, not replayed", tc.workers, stats, err, 20, tc.want)
		}
	}
}
