package report

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// Backtest accumulates the decisions of a policy over historical rows — the
// score, the action taken, the rules that fired and, where known, the
// outcome — and turns them into a [BacktestResult].
//
// All methods are safe for concurrent use. For throughput, give each worker
// goroutine its own Backtest from [NewBacktest] with the same rule names and
// [Backtest.Merge] them when the workers finish: the merged result equals the
// one a single Backtest fed every row would give.
//
// A Backtest keeps every row's score and label (9 bytes a row, in fixed-size
// chunks that never need copying as they grow) because AUC and KS need the
// full score distribution; counts per action and per rule are kept as running
// totals.
type Backtest struct {
	id uint64 // lock order for Merge

	mu      sync.Mutex
	rules   []string
	actions []string // known actions, in first-seen order
	rows    rowStore
	act     []tally
	rule    []tally
	total   tally
}

// tally counts rows, those with a known label, and bad ones.
type tally struct {
	rows, labelled, bads int
}

func (t *tally) add(label int8) {
	t.rows++
	if label >= 0 {
		t.labelled++
		t.bads += int(label)
	}
}

// outcome is what the labels say about the rows of t, a part of all: how
// many were bad, the bad rate (also the precision of the action or rule
// that picked them) and their share of all bad rows (recall). Without
// labels the count is nil and both rates undefined. Actions and rules
// report the same three figures.
func (t tally) outcome(all tally) (bads *int, badRate, recall Float) {
	if all.labelled == 0 {
		return nil, nan, nan
	}
	return ptr(t.bads), ratio(t.bads, t.labelled), ratio(t.bads, all.bads)
}

func (t *tally) merge(o tally) {
	t.rows += o.rows
	t.labelled += o.labelled
	t.bads += o.bads
}

var backtestIDs atomic.Uint64

// NewBacktest returns an empty Backtest for a policy whose rules are named
// ruleNames (the indexes passed to [Backtest.Add] refer to this slice) and
// whose possible actions are actions, for example approve, review, reject.
// Listing the actions fixes their order in results and reports them even when
// no row gets them; an action seen by Add but not listed is appended.
func NewBacktest(ruleNames []string, actions []string) *Backtest {
	b := &Backtest{
		id:    backtestIDs.Add(1),
		rules: slices.Clone(ruleNames),
		rule:  make([]tally, len(ruleNames)),
	}
	for _, a := range actions {
		b.actionIndex(a)
	}
	return b
}

// actionIndex returns the index of action a, adding it if new. A linear scan
// beats a map for the handful of actions a policy has.
func (b *Backtest) actionIndex(a string) int {
	for i, x := range b.actions {
		if x == a {
			return i
		}
	}
	b.actions = append(b.actions, a)
	b.act = append(b.act, tally{})
	return len(b.actions) - 1
}

// Add records one row: its score (read as the probability of being bad for
// log loss), the action the policy took, the indexes into the rule names of
// the rules that fired (each at most once), and its label: 1 for bad, 0 for
// good, -1 when the outcome is unknown. Any negative label means unknown and
// any label above 1 counts as bad. Add panics if a rule index is out of
// range.
func (b *Backtest) Add(score float64, action string, fired []int, label int) {
	l := int8(-1)
	switch {
	case label > 0:
		l = 1
	case label == 0:
		l = 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range fired {
		if r < 0 || r >= len(b.rule) {
			panic(fmt.Sprintf("report: rule index %d out of range [0, %d)", r, len(b.rule)))
		}
	}
	b.rows.add(score, l)
	b.total.add(l)
	b.act[b.actionIndex(action)].add(l)
	for _, r := range fired {
		b.rule[r].add(l)
	}
}

// Merge adds every row recorded in other to b; other is left unchanged.
// Both must have been created with the same rule names, or Merge panics.
// Actions are matched by name. Merging a Backtest into itself doubles it.
func (b *Backtest) Merge(other *Backtest) {
	if other == nil {
		return
	}
	if other == b {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.mergeLocked(b)
		return
	}
	first, second := b, other // lock in id order so concurrent a.Merge(b), b.Merge(a) cannot deadlock
	if second.id < first.id {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()
	b.mergeLocked(other)
}

func (b *Backtest) mergeLocked(o *Backtest) {
	if !slices.Equal(b.rules, o.rules) {
		panic(fmt.Sprintf("report: cannot merge backtests of different rules (%d vs %d rules)", len(b.rules), len(o.rules)))
	}
	b.rows.appendAll(&o.rows)
	b.total.merge(o.total)
	oact := slices.Clone(o.act) // o may be b, whose act may grow below
	for i, a := range slices.Clone(o.actions) {
		b.act[b.actionIndex(a)].merge(oact[i])
	}
	for i := range b.rule {
		b.rule[i].merge(o.rule[i])
	}
}

// Scores returns copies of the recorded scores and labels in the form
// [BacktestPage] and [Summarize] take: when any row is labelled, the scores
// and labels (true for bad) of the labelled rows; otherwise every score and a
// nil labels slice.
func (b *Backtest) Scores() (scores []float64, labels []bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total.labelled == 0 {
		scores = make([]float64, 0, b.total.rows)
		for _, c := range b.rows.chunks {
			scores = append(scores, c.scores[:c.n]...)
		}
		return scores, nil
	}
	scores = make([]float64, 0, b.total.labelled)
	labels = make([]bool, 0, b.total.labelled)
	for _, c := range b.rows.chunks {
		for i, l := range c.labels[:c.n] {
			if l >= 0 {
				scores = append(scores, c.scores[i])
				labels = append(labels, l == 1)
			}
		}
	}
	return scores, labels
}

// BacktestResult is the evaluation of a policy over historical rows, as
// computed by [Backtest.Result]. Its JSON form has exactly the top-level keys
// rows, labelled, auc, ks, logloss, recall_at_fpr_1pct, recall_at_fpr_5pct,
// decisions, actions and rules.
//
// Score figures are computed over the labelled rows only. Every
// label-dependent figure is NaN (JSON null) when no row is labelled, and
// otherwise whenever it would divide by zero — AUC with a single class, the
// bad rate of an action no labelled row got, and so on.
type BacktestResult struct {
	// Rows is the number of rows evaluated.
	Rows int `json:"rows"`
	// Labelled reports whether any row had a known outcome.
	Labelled bool `json:"labelled"`
	// AUC is the area under the ROC curve of the score; see [AUC].
	AUC Float `json:"auc"`
	// KS is the Kolmogorov-Smirnov statistic of the score; see [KS].
	KS Float `json:"ks"`
	// LogLoss is the mean cross-entropy of the score read as a probability.
	LogLoss Float `json:"logloss"`
	// RecallAtFPR1 is the recall of the score at a false-positive rate of at
	// most 1%.
	RecallAtFPR1 Float `json:"recall_at_fpr_1pct"`
	// RecallAtFPR5 is the recall of the score at a false-positive rate of at
	// most 5%.
	RecallAtFPR5 Float `json:"recall_at_fpr_5pct"`
	// Decisions counts the rows each action was taken for.
	Decisions map[string]int `json:"decisions"`
	// Actions holds the outcome figures of each action.
	Actions map[string]ActionStats `json:"actions"`
	// Rules holds the figures of each rule, in the order of the rule names
	// given to NewBacktest.
	Rules []RuleStats `json:"rules"`
	// ActionOrder lists the actions in the order given to NewBacktest,
	// followed by actions first seen in the data. It orders tables and is not
	// part of the JSON form.
	ActionOrder []string `json:"-"`
}

// ActionStats describes the rows that got one action.
type ActionStats struct {
	// Count is the number of rows that got the action.
	Count int `json:"count"`
	// Share is Count divided by all rows.
	Share Float `json:"share"`
	// Bads is the number of rows labelled bad among them; nil (JSON null)
	// when no row is labelled.
	Bads *int `json:"bads"`
	// BadRate is the share of bad rows among the labelled rows that got the
	// action.
	BadRate Float `json:"bad_rate"`
	// Precision equals BadRate: of the rows given this action, the share that
	// were bad.
	Precision Float `json:"precision"`
	// Recall is the share of all bad rows that got the action.
	Recall Float `json:"recall"`
}

// RuleStats describes the rows on which one rule fired.
type RuleStats struct {
	// Name is the rule's name.
	Name string `json:"name"`
	// Hits is the number of rows the rule fired on.
	Hits int `json:"hits"`
	// HitRate is Hits divided by all rows.
	HitRate Float `json:"hit_rate"`
	// Bads is the number of hits labelled bad; nil (JSON null) when no row is
	// labelled.
	Bads *int `json:"bads"`
	// BadRate is the share of bad rows among the labelled hits.
	BadRate Float `json:"bad_rate"`
	// Precision equals BadRate: of the rows the rule fired on, the share that
	// were bad.
	Precision Float `json:"precision"`
	// Recall is the share of all bad rows the rule fired on.
	Recall Float `json:"recall"`
	// Lift is BadRate divided by the bad rate of all labelled rows: how many
	// times likelier a hit is to be bad than an average row.
	Lift Float `json:"lift"`
}

// Result computes the figures of the rows recorded so far. The Backtest can
// keep accumulating afterwards.
func (b *Backtest) Result() *BacktestResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.total
	r := &BacktestResult{
		Rows:        t.rows,
		Labelled:    t.labelled > 0,
		Decisions:   make(map[string]int, len(b.actions)),
		Actions:     make(map[string]ActionStats, len(b.actions)),
		Rules:       make([]RuleStats, 0, len(b.rules)),
		ActionOrder: slices.Clone(b.actions),
	}

	pos, neg := b.splitLabelled()
	st := sweep(pos, neg, []float64{0.01, 0.05})
	r.AUC, r.KS = Float(st.auc), Float(st.ks)
	r.RecallAtFPR1, r.RecallAtFPR5 = Float(st.recall[0]), Float(st.recall[1])
	r.LogLoss = Float(math.NaN())
	if t.labelled > 0 {
		var sum float64
		for _, c := range b.rows.chunks {
			for i, l := range c.labels[:c.n] {
				if l >= 0 {
					sum += logLoss1(c.scores[i], l == 1)
				}
			}
		}
		r.LogLoss = Float(sum / float64(t.labelled))
	}

	baseRate := ratio(t.bads, t.labelled)
	for i, a := range b.actions {
		at := b.act[i]
		s := ActionStats{Count: at.rows, Share: ratio(at.rows, t.rows)}
		s.Bads, s.BadRate, s.Recall = at.outcome(t)
		s.Precision = s.BadRate
		r.Decisions[a] = at.rows
		r.Actions[a] = s
	}
	for i, name := range b.rules {
		rt := b.rule[i]
		s := RuleStats{Name: name, Hits: rt.rows, HitRate: ratio(rt.rows, t.rows), Lift: nan}
		s.Bads, s.BadRate, s.Recall = rt.outcome(t)
		s.Precision = s.BadRate
		if r.Labelled {
			s.Lift = s.BadRate / baseRate // NaN or Inf (null) when baseRate is 0
		}
		r.Rules = append(r.Rules, s)
	}
	return r
}

// SilentRules returns the rules that fired on no row and those that
// fired on every row: a rule the data never exercises one way or the
// other is untested by the backtest (and one that always fires only
// shifts the bias).
func (r *BacktestResult) SilentRules() (never, always []string) {
	for _, s := range r.Rules {
		switch {
		case r.Rows == 0:
		case s.Hits == 0:
			never = append(never, s.Name)
		case s.Hits == r.Rows:
			always = append(always, s.Name)
		}
	}
	return never, always
}

// splitLabelled is split over the labelled rows of b.
func (b *Backtest) splitLabelled() (pos, neg []uint64) {
	n := b.total.labelled
	buf := make([]uint64, 2*n)
	i, j := 0, n
	for _, c := range b.rows.chunks {
		for k, l := range c.labels[:c.n] {
			switch l {
			case 1:
				buf[i] = key(c.scores[k])
				i++
			case 0:
				j--
				buf[j] = key(c.scores[k])
			}
		}
	}
	return sortSplit(buf, i)
}

// rowStore keeps scores and labels in chunks of chunkRows rows, so that
// growing never copies what is already stored.
type rowStore struct {
	chunks []*rowChunk
}

const chunkRows = 1 << 13

type rowChunk struct {
	n      int
	scores [chunkRows]float64
	labels [chunkRows]int8 // 1 bad, 0 good, -1 unknown
}

func (r *rowStore) add(score float64, label int8) {
	if len(r.chunks) == 0 || r.chunks[len(r.chunks)-1].n == chunkRows {
		r.chunks = append(r.chunks, new(rowChunk))
	}
	c := r.chunks[len(r.chunks)-1]
	c.scores[c.n] = score
	c.labels[c.n] = label
	c.n++
}

// appendAll appends the rows of o, which may be r itself.
func (r *rowStore) appendAll(o *rowStore) {
	chunks := slices.Clone(o.chunks)
	counts := make([]int, len(chunks))
	for i, c := range chunks {
		counts[i] = c.n
	}
	for i, c := range chunks {
		for k := range counts[i] {
			r.add(c.scores[k], c.labels[k])
		}
	}
}

var nan = Float(math.NaN())

// ratio returns a/b, or NaN when b is 0.
func ratio(a, b int) Float {
	if b == 0 {
		return nan
	}
	return Float(float64(a) / float64(b))
}

func ptr(n int) *int { return &n }
