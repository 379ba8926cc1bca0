package rules

import (
	"errors"
	"math"
)

// LogReg is a logistic regression fitted by Newton's method (iteratively
// reweighted least squares) on standardised features, the baseline that
// tuned policies are compared with.
type LogReg struct {
	Mean, Std []float64 // standardisation of each feature
	Coef      []float64 // per standardised feature
	Intercept float64
	Iters     int
}

// FitLogReg fits y (0/1) on the rows of x. ridge is an L2 penalty on the
// standardised coefficients (not the intercept); a small one (1) keeps
// one-hot groups, whose columns sum to one, identifiable.
func FitLogReg(x [][]float64, y []float64, ridge float64) (*LogReg, error) {
	n := len(x)
	if n == 0 || n != len(y) {
		return nil, errors.New("rules: logistic regression needs rows with labels")
	}
	d := len(x[0])
	m := &LogReg{Mean: make([]float64, d), Std: make([]float64, d), Coef: make([]float64, d)}
	for j := 0; j < d; j++ {
		for i := range x {
			m.Mean[j] += x[i][j]
		}
		m.Mean[j] /= float64(n)
		for i := range x {
			dv := x[i][j] - m.Mean[j]
			m.Std[j] += dv * dv
		}
		m.Std[j] = math.Sqrt(m.Std[j] / float64(n))
		if m.Std[j] == 0 {
			m.Std[j] = 1
		}
	}
	z := make([][]float64, n) // standardised, with a leading 1
	for i := range x {
		z[i] = make([]float64, d+1)
		z[i][0] = 1
		for j := 0; j < d; j++ {
			z[i][j+1] = (x[i][j] - m.Mean[j]) / m.Std[j]
		}
	}
	beta := make([]float64, d+1)
	h := make([][]float64, d+1)
	for i := range h {
		h[i] = make([]float64, d+1)
	}
	g := make([]float64, d+1)
	for it := 0; it < 100; it++ {
		for i := range h {
			clear(h[i])
		}
		clear(g)
		for i, zi := range z {
			eta := 0.0
			for j, v := range zi {
				eta += beta[j] * v
			}
			p := Score(eta)
			w := math.Max(p*(1-p), 1e-12)
			r := p - y[i]
			for j, vj := range zi {
				g[j] += r * vj
				if vj == 0 {
					continue
				}
				for k := j; k < len(zi); k++ {
					h[j][k] += w * vj * zi[k]
				}
			}
		}
		for j := 1; j <= d; j++ {
			h[j][j] += ridge
			g[j] += ridge * beta[j]
		}
		for j := range h {
			for k := 0; k < j; k++ {
				h[j][k] = h[k][j]
			}
		}
		step, err := solve(h, g)
		if err != nil {
			return nil, err
		}
		size := 0.0
		for j := range beta {
			beta[j] -= step[j]
			size = math.Max(size, math.Abs(step[j]))
		}
		m.Iters = it + 1
		if size < 1e-10 {
			break
		}
	}
	m.Intercept = beta[0]
	copy(m.Coef, beta[1:])
	return m, nil
}

// Predict returns the probability of a row.
func (m *LogReg) Predict(x []float64) float64 {
	eta := m.Intercept
	for j, v := range x {
		eta += m.Coef[j] * (v - m.Mean[j]) / m.Std[j]
	}
	return Score(eta)
}

// solve solves a x = b for symmetric positive definite a (Cholesky).
func solve(a [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	l := make([][]float64, n)
	for i := range l {
		l[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 {
					return nil, errors.New("rules: logistic regression: singular system (add ridge)")
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i][k] * y[k]
		}
		y[i] = s / l[i][i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < n; k++ {
			s -= l[k][i] * x[k]
		}
		x[i] = s / l[i][i]
	}
	return x, nil
}
