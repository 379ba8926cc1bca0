package rules

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// creditLogReg fits a logistic regression on every column of the German
// credit data on the train rows and returns its AUC on the valid rows.
func creditLogReg(t testing.TB, labels []float64, train, valid []int) float64 {
	t.Helper()
	f, err := os.Open(creditData)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var x [][]float64
	for _, rec := range recs[1:] {
		var row []float64
		for j, v := range rec {
			if recs[0][j] == "Class" {
				continue
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, n)
		}
		x = append(x, row)
	}
	var tx [][]float64
	var ty []float64
	for _, r := range train {
		tx, ty = append(tx, x[r]), append(ty, labels[r])
	}
	m, err := FitLogReg(tx, ty, 1)
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, len(x))
	for i := range x {
		scores[i] = m.Predict(x[i])
	}
	return float64(Summary(scores, labels, valid).AUC)
}

// TestLogRegRecovers: on data drawn from a known logistic model the fit
// finds its coefficients.
func TestLogRegRecovers(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	coef := []float64{1.5, -2, 0.5}
	var x [][]float64
	var y []float64
	for i := 0; i < 20000; i++ {
		row := []float64{rng.NormFloat64(), rng.NormFloat64() * 2, rng.Float64()*4 - 2}
		eta := 0.3
		for j, c := range coef {
			eta += c * row[j]
		}
		label := 0.0
		if rng.Float64() < Score(eta) {
			label = 1
		}
		x, y = append(x, row), append(y, label)
	}
	m, err := FitLogReg(x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range coef {
		got := m.Coef[j] / m.Std[j] // back to raw units
		if math.Abs(got-c) > 0.1 {
			t.Errorf("coefficient %d: %.3f, want %.3f", j, got, c)
		}
	}
}
