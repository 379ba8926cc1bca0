package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// ErrNoEventTime is returned when a policy with windows is replayed on
// data although it declares no event time: every row would be the same
// instant for its windows.
var ErrNoEventTime = errors.New("the policy has windows but no required `ts time` input, so every row would be the same instant for its windows; declare `ts time` (the event time) in the input block")

// OrderOptions tune Order.
type OrderOptions struct {
	// KeepOrder replays rows in file order and refuses a file whose ts
	// goes backwards, naming the first such line.
	KeepOrder bool
	// MaxSpread refuses rows whose ts lies further than this from the
	// data's median time (0: DefaultMaxSpread): a ts of 1e300 or a
	// swapped unit would otherwise age out every window at once.
	MaxSpread time.Duration
}

// DefaultMaxSpread is OrderOptions.MaxSpread's default: ten years.
const DefaultMaxSpread = 10 * 365 * 24 * time.Hour

// Ordered is a data file's rows in event-time order, for replaying
// windows as serving saw them. It reads like a Reader.
type Ordered struct {
	reqs   []*vm.Request
	labels []int
	lines  []int
	next   int
	// OutOfOrder is how many rows had a ts earlier than a row above them
	// in the file (and so moved when sorted).
	OutOfOrder int
}

// Order reads every row of r and sorts the rows by ts (stably, so rows
// with equal times keep their file order), or with KeepOrder checks that
// they already are. It refuses a policy with windows but no event time.
func Order(r *Reader, prog *vm.Program, opts OrderOptions) (*Ordered, error) {
	if len(prog.Windows) > 0 && prog.TimeSlot < 0 {
		return nil, ErrNoEventTime
	}
	o := &Ordered{}
	if err := r.Each(func(req *vm.Request, label int) {
		o.reqs, o.labels, o.lines = append(o.reqs, req), append(o.labels, label), append(o.lines, r.Line())
	}); err != nil {
		return nil, err
	}
	perm, n, err := TimeOrder(prog, r.path, o.reqs, o.lines, opts)
	if err != nil {
		return nil, err
	}
	o.OutOfOrder = n
	if perm != nil {
		o.reqs, o.labels, o.lines = Permute(o.reqs, perm), Permute(o.labels, perm), Permute(o.lines, perm)
	}
	return o, nil
}

// TimeOrder is the replay order of rows read from path (lines are their
// file lines): nil when they are already in ts order (or the policy has
// no windows), else the stable sort by ts as a permutation, with how many
// rows were out of order. With KeepOrder a backwards ts is an error
// naming its line; a policy with windows but no ts is refused, and so is
// a ts further than MaxSpread from the data's median time.
func TimeOrder(prog *vm.Program, path string, reqs []*vm.Request, lines []int, opts OrderOptions) ([]int, int, error) {
	if len(prog.Windows) == 0 || len(reqs) == 0 {
		return nil, 0, nil
	}
	if prog.TimeSlot < 0 {
		return nil, 0, ErrNoEventTime
	}
	ts := func(i int) float64 { return reqs[i].Num[prog.TimeSlot] }
	if err := checkSpread(path, lines, len(reqs), ts, opts.MaxSpread); err != nil {
		return nil, 0, err
	}
	latest, n := math.Inf(-1), 0
	for i := range reqs {
		if t := ts(i); t < latest {
			if opts.KeepOrder {
				return nil, 0, fmt.Errorf("%s:%d: features.ts %s is earlier than a row above it; --keep-order replays file order, which would change window values silently (drop --keep-order to sort by ts)",
					path, lines[i], fmtTS(t))
			}
			n++
		} else {
			latest = t
		}
	}
	if n == 0 {
		return nil, 0, nil
	}
	idx := make([]int, len(reqs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ts(idx[a]) < ts(idx[b]) })
	return idx, n, nil
}

// OutOfOrderNote is what tools print about reordered rows.
func OutOfOrderNote(n, rows int) string {
	return fmt.Sprintf("%d of %d rows were out of time order; windows replay them sorted by ts (stable; --keep-order refuses such data instead)", n, rows)
}

// checkSpread refuses times far from the data's median.
func checkSpread(path string, lines []int, n int, ts func(int) float64, spread time.Duration) error {
	if spread <= 0 {
		spread = DefaultMaxSpread
	}
	all := make([]float64, n)
	for i := range all {
		all[i] = ts(i)
	}
	slices.Sort(all)
	median := all[len(all)/2]
	for i := 0; i < n; i++ {
		if t := ts(i); math.Abs(t-median) > spread.Seconds() {
			return fmt.Errorf("%s:%d: features.ts %s is more than %s from the data's median time %s; refused, since it would age out (or never expire) every window",
				path, lines[i], fmtTS(t), spread, fmtTS(median))
		}
	}
	return nil
}

func fmtTS(t float64) string {
	if math.Abs(t) < 1e11 {
		return time.Unix(int64(math.Floor(t)), 0).UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%g", t)
}

// Permute returns xs reordered by idx (out[i] = xs[idx[i]]).
func Permute[T any](xs []T, idx []int) []T {
	out := make([]T, len(xs))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// Len is the number of rows.
func (o *Ordered) Len() int { return len(o.reqs) }

// Rows returns the rows in replay order with their labels.
func (o *Ordered) Rows() ([]*vm.Request, []int) { return o.reqs, o.labels }

// Next copies the next row into req, like Reader.Next.
func (o *Ordered) Next(req *vm.Request) (int, error) {
	if o.next >= len(o.reqs) {
		return 0, io.EOF
	}
	src := o.reqs[o.next]
	req.ID, req.Event, req.Time = src.ID, src.Event, src.Time
	copy(req.Num, src.Num)
	copy(req.Str, src.Str)
	copy(req.Present, src.Present)
	o.next++
	return o.labels[o.next-1], nil
}

// Line is the file line of the row Next returned last.
func (o *Ordered) Line() int {
	if o.next == 0 {
		return 0
	}
	return o.lines[o.next-1]
}
