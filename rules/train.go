package rules

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/riskforge/riskforge/report"
)

// Config tunes training. Zero fields take the defaults of DefaultConfig.
type Config struct {
	Epochs    int     // passes over the training rows
	Batch     int     // minibatch size
	LR        float64 // Adam learning rate
	Seed      uint64  // shuffling; training is deterministic for a seed
	T0, T1    float64 // temperature of the first and of the last epoch (geometric schedule)
	LRDecay   float64 // the last epoch's learning rate is LR·LRDecay (geometric schedule)
	L2        float64 // L2 penalty on rule weights (negative: none)
	Range     float64 // penalty on thresholds outside their feature's observed range
	PosWeight float64 // class weight of bad rows (good rows weigh 1)
	Patience  int     // early stopping: epochs without a better selection figure (not in the first half); <0 disables
	// Select is the figure of the hard policy on the selection rows that
	// picks the epoch (the untrained policy, epoch 0, included); the zero
	// value selects by log loss.
	Select Selection
	// AllowFlip names the rules whose weight may change sign ("*": all).
	// Every other weight keeps the sign it is written with: it can reach 0,
	// and a weight held at 0 is reported (Result.Held).
	AllowFlip []string
	// MaxShift, when positive, keeps every threshold within MaxShift of
	// its written value, in units of its feature's robust scale.
	MaxShift float64
	// Progress, when set, is called after every epoch.
	Progress func(EpochStats)
}

// DefaultConfig holds the defaults.
var DefaultConfig = Config{Epochs: 60, Batch: 256, LR: 0.05, LRDecay: 0.1, T0: 0.3, T1: 0.01, L2: 1e-3, Range: 10, PosWeight: 1, Patience: 15}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Epochs <= 0 {
		c.Epochs = d.Epochs
	}
	if c.Batch <= 0 {
		c.Batch = d.Batch
	}
	if c.LR <= 0 {
		c.LR = d.LR
	}
	if c.T0 <= 0 {
		c.T0 = d.T0
	}
	if c.T1 <= 0 {
		c.T1 = d.T1
	}
	if c.LRDecay <= 0 || c.LRDecay > 1 {
		c.LRDecay = d.LRDecay
	}
	switch {
	case c.L2 == 0:
		c.L2 = d.L2
	case c.L2 < 0:
		c.L2 = 0
	}
	if c.Range <= 0 {
		c.Range = d.Range
	}
	if c.PosWeight <= 0 {
		c.PosWeight = d.PosWeight
	}
	if c.Patience == 0 {
		c.Patience = d.Patience
	}
	return c
}

// Temperature returns the temperature of epoch e (0-based) of n.
func (c Config) Temperature(e, n int) float64 {
	if n <= 1 {
		return c.T1
	}
	return c.T0 * math.Pow(c.T1/c.T0, float64(e)/float64(n-1))
}

// EpochStats describe one epoch.
type EpochStats struct {
	Epoch       int     `json:"epoch"` // 1-based
	Epochs      int     `json:"-"`
	Temperature float64 `json:"temperature"`
	// TrainLoss is the mean soft loss of the epoch's minibatches
	// (penalties included).
	TrainLoss float64 `json:"train_loss"`
	// ValidLogLoss and ValidAUC are figures of the hard limit (T → 0) on
	// the selection rows (the fit rows when there are none): log loss of
	// the training probability, AUC of the score. ValidSelect is the
	// figure that selects (Config.Select).
	ValidLogLoss float64       `json:"valid_logloss"`
	ValidAUC     float64       `json:"valid_auc"`
	ValidSelect  float64       `json:"valid_select"`
	Best         bool          `json:"best"`
	Elapsed      time.Duration `json:"-"` // since training started
	Seconds      float64       `json:"seconds"`
}

// Result is the outcome of Train.
type Result struct {
	// Values are every parameter in the VM's units at the best epoch,
	// before hardening.
	Values []float64
	// BestEpoch is the selected epoch, 1-based; 0 when no epoch beat the
	// policy as written (Start), whose values Values then hold.
	BestEpoch int
	BestTemp  float64
	// Start is the untrained policy's figures on the selection rows
	// (epoch 0).
	Start   EpochStats
	History []EpochStats
	// Held lists the weights whose sign constraint held them at 0 at the
	// selected epoch: the data pulled them across zero.
	Held         []int
	StoppedEarly bool
	Graph        *Graph
}

// Train tunes p's trainable parameters on the train rows of data, with
// early stopping on the valid rows. labels holds 0/1 per data row.
func Train(p *Problem, data *Matrix, labels []float64, train, valid []int, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if len(train) == 0 {
		return nil, errors.New("rules: no training rows")
	}
	batch := min(cfg.Batch, len(train))
	gr, err := p.NewGraph(data, train, GraphConfig{Batch: batch, L2: cfg.L2, Range: cfg.Range, PosWeight: cfg.PosWeight})
	if err != nil {
		return nil, err
	}
	if len(gr.trainable) == 0 {
		gr.Close()
		return nil, errors.New("rules: the policy has no trainable parameter (all fixed or frozen)")
	}
	check := valid
	if len(check) == 0 {
		check = train
	}
	checkLabels := make([]bool, len(check))
	for i, r := range check {
		checkLabels[i] = labels[r] == 1
	}
	gr.constrain(cfg.AllowFlip, cfg.MaxShift)
	solver := newSolver(cfg.LR)
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5deece66d))
	order := append([]int(nil), train...)
	res := &Result{Graph: gr}
	// Epoch 0, the policy as written, is the first candidate.
	st0, err := gr.selectStats(check, labels, checkLabels, cfg.Select)
	if err != nil {
		return nil, err
	}
	st0.Best, st0.Temperature = true, cfg.T0
	res.Start = st0
	best, bestFig, since := gr.snapshot(), st0.ValidSelect, 0
	res.BestTemp = cfg.T0
	start := time.Now()
	for e := 0; e < cfg.Epochs; e++ {
		T := cfg.Temperature(e, cfg.Epochs)
		G.WithLearnRate(cfg.LR * math.Pow(cfg.LRDecay, float64(e)/float64(max(1, cfg.Epochs-1))))(solver)
		if err := gr.SetTemperature(T); err != nil {
			return nil, err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		loss, steps := 0.0, 0
		for s := 0; s < len(order); s += batch {
			l, err := gr.Step(solver, order[s:min(s+batch, len(order))], labels)
			if err != nil {
				return nil, err
			}
			gr.project()
			loss += l
			steps++
		}
		st, err := gr.selectStats(check, labels, checkLabels, cfg.Select)
		if err != nil {
			return nil, err
		}
		st.Epoch, st.Epochs, st.Temperature, st.TrainLoss = e+1, cfg.Epochs, T, loss/float64(steps)
		if cfg.Select.Better(st.ValidSelect, bestFig) {
			best, bestFig, since = gr.snapshot(), st.ValidSelect, 0
			res.BestEpoch, res.BestTemp, st.Best = e+1, T, true
		} else {
			since++
		}
		st.Elapsed = time.Since(start)
		st.Seconds = st.Elapsed.Seconds()
		res.History = append(res.History, st)
		if cfg.Progress != nil {
			cfg.Progress(st)
		}
		// The hard validation loss is bumpy while the temperature is high,
		// so the first half of the schedule never stops training.
		if cfg.Patience > 0 && since >= cfg.Patience && 2*(e+1) >= cfg.Epochs {
			res.StoppedEarly = true
			break
		}
	}
	gr.restore(best)
	if err := gr.SetTemperature(res.BestTemp); err != nil {
		return nil, err
	}
	res.Values = gr.ParamValues()
	res.Held = gr.held()
	return res, nil
}

// selectStats evaluates the hard limit on the selection rows.
func (gr *Graph) selectStats(check []int, labels []float64, checkLabels []bool, sel Selection) (EpochStats, error) {
	out, err := gr.Eval(check, labels, HardInvT)
	if err != nil {
		return EpochStats{}, err
	}
	scores := make([]float64, len(check))
	for i, z := range out.Logit {
		scores[i] = Score(z)
	}
	st := EpochStats{ValidLogLoss: report.LogLoss(out.Prob, checkLabels), ValidAUC: report.AUC(scores, checkLabels)}
	st.ValidSelect = sel.figure(scores, out.Prob, checkLabels, st)
	return st, nil
}

func newSolver(lr float64) *G.AdamSolver { return G.NewAdamSolver(G.WithLearnRate(lr)) }
