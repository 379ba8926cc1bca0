package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// dsProfile is one version of a customer profile as the CRM stores it,
// in effect from from on.
type dsProfile struct {
	from    time.Time
	segment string
	limit   float64
	missed  int
}

// datastack writes one of the three files of examples/datastack: the loan
// applications (emit data), the profile store's history with valid_from
// (emit profiles) and the device-reputation service's records (emit
// devices). All three come from one world drawn from rng, so the same seed
// gives files that fit together. An application's default label follows
// the profile in effect at its ts, so a replay that joins by valid_from
// sees what serving saw and one that reads today's profiles does not.
func datastack(w io.Writer, rng *rand.Rand, n int, emit string) error {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	users := max(1, n*2/5)
	devices := max(1, n/2)
	// Profiles: 90% of users have one; a few first appear mid-March (early
	// applications find none); many change once or twice.
	profiles := make([][]dsProfile, users)
	for u := range profiles {
		if rng.Float64() < 0.10 {
			continue
		}
		from := start.Add(-time.Duration(rng.IntN(400*24)) * time.Hour)
		if rng.Float64() < 0.08 {
			from = start.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
		}
		p := dsProfile{from: from, segment: pick(rng, []string{"gold", "silver", "silver", "bronze", "bronze", "bronze"}),
			limit: math.Round(math.Exp(rng.NormFloat64()*0.6+8.7)/100) * 100}
		if rng.Float64() < 0.2 {
			p.missed = 1 + rng.IntN(3)
		}
		profiles[u] = append(profiles[u], p)
		for k := rng.IntN(3); k > 0; k-- {
			q := p
			q.from = start.Add(time.Duration(rng.IntN(30*24)) * time.Hour)
			if !q.from.After(p.from) {
				break
			}
			if rng.Float64() < 0.5 {
				q.missed = max(0, p.missed+rng.IntN(3)-1)
			} else {
				q.limit = math.Max(100, math.Round(p.limit*(0.6+rng.Float64()*0.8)/100)*100)
			}
			profiles[u] = append(profiles[u], q)
			p = q
		}
	}
	// Devices: 85% known to the reputation service; a few bad ones.
	reputation := make([]float64, devices)
	for d := range reputation {
		reputation[d] = -1
		if rng.Float64() < 0.85 {
			reputation[d] = math.Round(math.Min(1, math.Max(0, rng.NormFloat64()*0.2+0.7))*100) / 100
			if rng.Float64() < 0.05 {
				reputation[d] = math.Round(rng.Float64()*15) / 100
			}
		}
	}
	switch emit {
	case "profiles":
		fmt.Fprintln(w, "user_id,valid_from,segment,credit_limit,missed_payments")
		for u, hist := range profiles {
			for _, p := range hist {
				fmt.Fprintf(w, "u%05d,%s,%s,%g,%d\n", u, p.from.Format(time.RFC3339), p.segment, p.limit, p.missed)
			}
		}
		return nil
	case "devices":
		for d, rep := range reputation {
			if rep >= 0 {
				b, _ := json.Marshal(map[string]any{"device_id": fmt.Sprintf("d%05d", d), "reputation": rep})
				fmt.Fprintf(w, "%s\n", b)
			}
		}
		return nil
	case "data":
	default:
		return fmt.Errorf("datastack: -emit data, profiles or devices, not %q", emit)
	}
	fmt.Fprintln(w, "event,user_id,device_id,amount,income,ts,default")
	ts := start
	last, burst := 0, 0
	for i := 0; i < n; i++ {
		u := rng.IntN(users)
		inBurst := burst > 0
		switch {
		case inBurst: // a burst: the same customer again within minutes
			burst--
			u = last
			ts = ts.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
		default:
			ts = ts.Add(time.Duration(rng.ExpFloat64()*float64(15*time.Minute)) + time.Second)
			if rng.Float64() < 1.0/150 {
				burst = 3 + rng.IntN(3)
			}
		}
		last = u
		d := (u*7 + rng.IntN(3)) % devices
		income := math.Round(math.Max(0, rng.NormFloat64()*900+2400))
		amount := math.Min(math.Max(math.Round(math.Exp(rng.NormFloat64()*0.9+8.4)/10)*10, 100), 250000)
		logit := -2.4 + 0.5*math.Log(math.Max(amount/math.Max(income, 1), 0.05))
		var cur *dsProfile
		for k := range profiles[u] {
			if !profiles[u][k].from.After(ts) {
				cur = &profiles[u][k]
			}
		}
		if cur == nil {
			logit += 0.7
		} else {
			if amount > cur.limit {
				logit += 1.1
			}
			logit += 0.6*float64(cur.missed) - map[string]float64{"gold": 0.6, "silver": 0.2}[cur.segment]
		}
		if inBurst {
			logit += 1.0
		}
		if rep := reputation[d]; rep >= 0 && rep < 0.2 {
			logit += 2.0
		}
		logit += rng.NormFloat64() * 0.6
		label := 0
		if rng.Float64() < sigmoid(logit) {
			label = 1
		}
		fmt.Fprintf(w, "loan_apply,u%05d,d%05d,%g,%g,%s,%d\n", u, d, amount, income, ts.Format(time.RFC3339), label)
	}
	return nil
}
