// Command gen writes the seeded, labelled example data sets used by the
// examples, the tests and the benchmarks. The same seed always produces
// the same file.
//
//	go run ./examples/gen loan -n 10000 -seed 1 > examples/loan/history.csv
//	go run ./examples/gen payments -n 8000 -seed 1 > examples/payments/history.csv
//	go run ./examples/gen planted -n 20000 -seed 1 > examples/planted/history.csv
//	go run ./examples/gen datastack -n 3000 -seed 1 -emit data > examples/datastack/applications.csv
//	go run ./examples/gen datastack -n 3000 -seed 1 -emit profiles > examples/datastack/profiles.csv
//	go run ./examples/gen datastack -n 3000 -seed 1 -emit devices > examples/datastack/devices.jsonl
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/riskforge/riskforge/internal/planted"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen loan|payments|planted|datastack [-n ROWS] [-seed S] [-rules N] [-emit data|policy|start|profiles|devices]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("gen "+os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 10000, "rows to generate")
	seed := fs.Uint64("seed", 1, "random seed")
	rules := fs.Int("rules", 8, "planted: number of planted rules")
	emit := fs.String("emit", "data", "planted: data (CSV), policy (the planted policy) or start (the same rules with wrong numbers); datastack: data, profiles or devices")
	_ = fs.Parse(os.Args[2:])
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	switch os.Args[1] {
	case "loan":
		// Incidents (the rare cases forced rules catch) draw from their
		// own stream, so the ordinary applications are those of any
		// earlier version of this generator with the same seed.
		loan(w, rng, rand.New(rand.NewPCG(*seed^0x5bd1e995, *seed)), *n)
	case "payments":
		payments(w, rng, *n)
	case "planted":
		if err := plantedSet(w, rng, *n, *rules, *emit); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(2)
		}
	case "datastack":
		if err := datastack(w, rng, *n, *emit); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(2)
		}
	default:
		fmt.Fprintf(os.Stderr, "gen: unknown data set %q\n", os.Args[1])
		os.Exit(2)
	}
}

var markets = []string{"DE", "DE", "DE", "FR", "FR", "NL", "BE", "AT", "IE"}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// loan writes loan applications whose default label follows a latent
// credit model the policy's rules approximate, with noise, and now and
// then an incident (see incident) drawn from inc.
func loan(w io.Writer, rng, inc *rand.Rand, n int) {
	fmt.Fprintln(w, "event,user_id,device_id,ip_country,residence_country,email,age,amount,term_months,income,verified_income,existing_debt,overdue_30d,bureau_score,account_opened,ts,default")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ts := start
	users := n / 3
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Duration(rng.ExpFloat64()*float64(90*time.Second)) + time.Second)
		u := rng.IntN(users)
		event := "loan_apply"
		if rng.Float64() < 0.15 {
			event = "loan_topup"
		}
		res := pick(rng, markets)
		ip := res
		if rng.Float64() < 0.08 {
			ip = pick(rng, []string{"US", "GB", "PL", "RO", "NG", "DE"})
		}
		age := 18 + rng.IntN(60)
		income := math.Round(math.Max(0, rng.NormFloat64()*900+2400))
		amount := math.Round(math.Exp(rng.NormFloat64()*0.9+8.6)/10) * 10
		amount = math.Min(math.Max(amount, 100), 250000)
		term := pick(rng, []int{6, 12, 24, 36, 48, 60, 72, 84, 96})
		debt := math.Round(math.Max(0, rng.NormFloat64()*300+250))
		overdue := 0
		if rng.Float64() < 0.25 {
			overdue = 1 + rng.IntN(4)
		}
		verified := ""
		effIncome := income
		if rng.Float64() < 0.4 {
			v := math.Round(income * (0.75 + rng.Float64()*0.3))
			verified = fmt.Sprint(v)
			effIncome = math.Min(income, v)
		}
		bureau := ""
		bureauScore := 0
		if rng.Float64() < 0.85 {
			bureauScore = int(math.Min(850, math.Max(300, rng.NormFloat64()*80+660)))
			bureau = fmt.Sprint(bureauScore)
		}
		email := ""
		disposable := false
		if rng.Float64() < 0.9 {
			domain := pick(rng, []string{"gmail.com", "web.de", "outlook.com", "orange.fr"})
			if rng.Float64() < 0.03 {
				domain, disposable = "mailinator.com", true
			}
			email = fmt.Sprintf("user%d@%s", u, domain)
		}
		opened := ts.Add(-time.Duration(rng.IntN(2000)) * 24 * time.Hour)
		dti := (debt + amount/float64(term)) / math.Max(effIncome, 1)

		logit := -1.9 + 0.9*math.Min(dti, 2) + 0.55*float64(overdue) - 0.9
		if bureauScore > 0 {
			logit += (620 - float64(bureauScore)) / 60
		} else {
			logit += 0.4
		}
		if effIncome < 900 {
			logit += 0.9
		}
		if ip != res {
			logit += 0.8
		}
		if disposable {
			logit += 1.5
		}
		if ts.Sub(opened) > 3*365*24*time.Hour && overdue == 0 {
			logit -= 0.7
		}
		logit += rng.NormFloat64() * 0.7
		label := 0
		if rng.Float64() < sigmoid(logit) {
			label = 1
		}
		fmt.Fprintf(w, "%s,u%05d,d%05d,%s,%s,%s,%d,%g,%d,%g,%s,%g,%d,%s,%s,%s,%d\n",
			event, u, u*7%(users+11), ip, res, email, age, amount, term, income, verified, debt, overdue, bureau,
			opened.Format(time.RFC3339), ts.Format(time.RFC3339), label)
		if inc.Float64() < 1.0/150 {
			incident(w, inc, ts, i)
		}
	}
}

// blockedDevices are devices on examples/loan/lists/blocked_devices.txt.
var blockedDevices = []string{"dev-7f3a9c21e4b8", "dev-0b91d4e6a2c7"}

// incident writes the rows of one of the rare cases the loan policy's
// forced rules exist for — a blocklisted device, a sanctioned country, a
// residence outside the lending markets, an underage applicant, a burst
// of applications, a device shared by several applicants — at time ts,
// with applicants of their own (x...) so ordinary customers' windows are
// untouched. Their default rate is high, as for the fraud they stand for.
func incident(w io.Writer, rng *rand.Rand, ts time.Time, i int) {
	row := func(user, device, ip, res string, age int) {
		label := 0
		if rng.Float64() < 0.6 {
			label = 1
		}
		amount := math.Round(math.Exp(rng.NormFloat64()*0.7+8.8)/10) * 10
		fmt.Fprintf(w, "loan_apply,%s,%s,%s,%s,%s@mailinator.com,%d,%g,%d,%g,,%g,%d,%d,%s,%s,%d\n",
			user, device, ip, res, user, age, math.Min(math.Max(amount, 100), 250000), pick(rng, []int{12, 24, 36, 48}),
			math.Round(1200+rng.Float64()*1500), math.Round(rng.Float64()*600), rng.IntN(3), 450+rng.IntN(250),
			ts.Add(-time.Duration(30+rng.IntN(400))*24*time.Hour).Format(time.RFC3339), ts.Format(time.RFC3339), label)
	}
	user := fmt.Sprintf("x%05d", i)
	device := fmt.Sprintf("dx%05d", i)
	switch rng.IntN(6) {
	case 0:
		row(user, pick(rng, blockedDevices), "DE", "DE", 30+rng.IntN(30))
	case 1:
		row(user, device, pick(rng, []string{"KP", "IR", "SY", "CU"}), pick(rng, markets), 30+rng.IntN(30))
	case 2:
		c := pick(rng, []string{"US", "GB", "CH"})
		row(user, device, c, c, 30+rng.IntN(30))
	case 3:
		row(user, device, "DE", "DE", 16+rng.IntN(2))
	case 4: // four applications within the hour
		for range 4 {
			row(user, device, "FR", "FR", 25+rng.IntN(30))
		}
	default: // three applicants on one device
		for k := range 3 {
			row(fmt.Sprintf("%s%c", user, 'a'+k), device, "NL", "NL", 25+rng.IntN(30))
		}
	}
}

// plantedSet writes events labelled by planted rules with known numbers
// (see package planted), or the planted policy, or the same policy with
// deliberately wrong numbers for training to start from.
func plantedSet(w io.Writer, rng *rand.Rand, n, rules int, emit string) error {
	spec := planted.NewSpec(rules)
	switch emit {
	case "data":
		return planted.Generate(w, spec, n, rng)
	case "policy":
		_, err := w.Write(spec.Policy("planted", "The planted policy: the numbers the data was generated with.\nGenerated by: go run ./examples/gen planted -emit policy"))
		return err
	case "start":
		_, err := w.Write(spec.Wrong().Policy("planted", "The planted rules with deliberately wrong thresholds and weights:\nwhere training starts. Generated by: go run ./examples/gen planted -emit start"))
		return err
	}
	return fmt.Errorf("unknown -emit %q (use data, policy or start)", emit)
}
