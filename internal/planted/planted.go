// Package planted generates labelled events from planted rules: rules
// with known thresholds and weights, plus noise. Training a policy with
// deliberately wrong numbers on such data must find the planted ones
// again; the rules package tests this, and benchmarks training on it.
//
//	go run ./examples/gen planted -n 20000 -seed 1 > examples/planted/history.csv
//	go run ./examples/gen planted -emit policy > examples/planted/planted.risk
//	go run ./examples/gen planted -emit start > examples/planted/start.risk
package planted

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Rule is one planted rule. Its feature column is Feature (and, for the
// kinds that need one, Cat or Opened).
type Rule struct {
	Name    string
	Kind    int // 0: x > Lo; 1: n >= Lo (int); 2: x between Lo and Hi; 3: x < Lo and cat == "b"; 4: ts - opened < Lo (seconds)
	Feature string
	Lo, Hi  float64
	Weight  float64
}

// Spec is a planted policy: rules, bias and the label noise.
type Spec struct {
	Rules []Rule
	Bias  float64
	Noise float64 // standard deviation of the noise added to the logit
}

const day = 86400.0

// NewSpec returns the planted policy with n rules, cycling through the
// five kinds of rule with varying thresholds and weights.
func NewSpec(n int) Spec {
	s := Spec{Bias: -2.2, Noise: 0.3}
	for i := 0; i < n; i++ {
		r := Rule{Kind: i % 5, Weight: []float64{1.4, 1.1, 1.6, -1.2, 1.3, 0.9, -0.9}[i%7]}
		switch r.Kind {
		case 0:
			r.Name, r.Feature, r.Lo = fmt.Sprintf("high_x%d", i), fmt.Sprintf("x%d", i), 50+15*(0.6+0.15*float64(i%3))
		case 1:
			r.Name, r.Feature, r.Lo = fmt.Sprintf("many_n%d", i), fmt.Sprintf("n%d", i), float64(5+i%2)
		case 2:
			r.Name, r.Feature, r.Lo, r.Hi = fmt.Sprintf("band_u%d", i), fmt.Sprintf("u%d", i), float64(30+i%3*5), float64(55+i%3*5)
		case 3:
			r.Name, r.Feature, r.Lo = fmt.Sprintf("low_m%d", i), fmt.Sprintf("m%d", i), float64(700+i%2*50)
		case 4:
			r.Name, r.Feature, r.Lo = fmt.Sprintf("new_o%d", i), fmt.Sprintf("o%d", i), float64(60+i%3*15)*day
		}
		s.Rules = append(s.Rules, r)
	}
	return s
}

// Wrong returns the spec with every threshold deliberately moved (by about
// one standard deviation of its feature, or a fifth of its range), every
// weight set to 0.5 and the bias to -1.
func (s Spec) Wrong() Spec {
	w := Spec{Bias: -1, Noise: s.Noise}
	for i, r := range s.Rules {
		dir := []float64{1, -1}[i%2]
		switch r.Kind {
		case 0:
			r.Lo += dir * 15
		case 1:
			r.Lo -= 2
		case 2:
			r.Lo += dir * 12
			r.Hi += dir * 12
		case 3:
			r.Lo += dir * 250
		case 4:
			r.Lo += dir * 45 * day
		}
		r.Weight = 0.5
		w.Rules = append(w.Rules, r)
	}
	return w
}

// Columns returns the CSV header of the generated data.
func (s Spec) Columns() []string {
	cols := []string{"id", "ts"}
	for i, r := range s.Rules {
		cols = append(cols, r.Feature)
		switch r.Kind {
		case 3:
			cols = append(cols, fmt.Sprintf("c%d", i))
		}
	}
	return append(cols, "bad")
}

// Generate writes n labelled rows as CSV. The same rng state gives the
// same file.
func Generate(w io.Writer, s Spec, n int, rng *rand.Rand) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, strings.Join(s.Columns(), ","))
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	row := make([]string, 0, len(s.Columns()))
	for k := 0; k < n; k++ {
		ts += 1 + rng.Int64N(120)
		row = append(row[:0], fmt.Sprintf("r%06d", k), time.Unix(ts, 0).UTC().Format(time.RFC3339))
		logit := s.Bias + rng.NormFloat64()*s.Noise
		for _, r := range s.Rules {
			fire := false
			switch r.Kind {
			case 0:
				x := math.Round((50+15*rng.NormFloat64())*100) / 100
				row = append(row, strconv.FormatFloat(x, 'f', -1, 64))
				fire = x > r.Lo
			case 1:
				m := 0
				for j := 0; j < 12; j++ {
					if rng.Float64() < 0.35 {
						m++
					}
				}
				row = append(row, strconv.Itoa(m))
				fire = float64(m) >= r.Lo
			case 2:
				u := math.Round(rng.Float64()*10000) / 100
				row = append(row, strconv.FormatFloat(u, 'f', -1, 64))
				fire = u >= r.Lo && u <= r.Hi
			case 3:
				x := math.Round(1000 + 300*rng.NormFloat64())
				c := []string{"a", "b", "c"}[rng.IntN(3)]
				row = append(row, strconv.FormatFloat(x, 'f', -1, 64), c)
				fire = x < r.Lo && c == "b"
			case 4:
				opened := ts - rng.Int64N(int64(365*day))
				row = append(row, time.Unix(opened, 0).UTC().Format(time.RFC3339))
				fire = float64(ts-opened) < r.Lo
			}
			if fire {
				logit += r.Weight
			}
		}
		label := "0"
		if rng.Float64() < 1/(1+math.Exp(-logit)) {
			label = "1"
		}
		row = append(row, label)
		fmt.Fprintln(bw, strings.Join(row, ","))
	}
	return bw.Flush()
}

// Policy returns the source of a policy made of s's rules.
func (s Spec) Policy(name, comment string) []byte {
	var b strings.Builder
	for _, line := range strings.Split(comment, "\n") {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	fmt.Fprintf(&b, "\npolicy %s version \"1.0.0\"\n\ninput {\n", name)
	fields := [][2]string{{"id", "string"}, {"ts", "time"}}
	for i, r := range s.Rules {
		switch r.Kind {
		case 0, 2:
			fields = append(fields, [2]string{r.Feature, "float"})
		case 1:
			fields = append(fields, [2]string{r.Feature, "int"})
		case 3:
			fields = append(fields, [2]string{r.Feature, "float"}, [2]string{fmt.Sprintf("c%d", i), "string"})
		case 4:
			fields = append(fields, [2]string{r.Feature, "time"})
		}
	}
	width := 0
	for _, f := range fields {
		width = max(width, len(f[0]))
	}
	for _, f := range fields {
		fmt.Fprintf(&b, "  %-*s %s\n", width, f[0], f[1])
	}
	b.WriteString("}\n")
	for i, r := range s.Rules {
		var cond string
		switch r.Kind {
		case 0:
			cond = fmt.Sprintf("%s > %s", r.Feature, num(r.Lo))
		case 1:
			cond = fmt.Sprintf("%s >= %d", r.Feature, int(r.Lo))
		case 2:
			cond = fmt.Sprintf("%s between %s and %s", r.Feature, num(r.Lo), num(r.Hi))
		case 3:
			cond = fmt.Sprintf("%s < %s and c%d == \"b\"", r.Feature, num(r.Lo), i)
		case 4:
			cond = fmt.Sprintf("ts - %s < %dd", r.Feature, int(math.Round(r.Lo/day)))
		}
		fmt.Fprintf(&b, "\nrule %s\n  when %s\n  emit score %s reason \"planted rule %s\"\n", r.Name, cond, weight(r.Weight), r.Name)
	}
	fmt.Fprintf(&b, "\ndecide {\n  bias %s\n  reject when score >= 0.8\n  review when score >= 0.5\n  otherwise approve\n}\n", weight(s.Bias))
	return []byte(b.String())
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func weight(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
