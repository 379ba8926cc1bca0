package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// loadPolicy compiles the policy riskd will serve, to learn its inputs: a
// .risk or .rbc file, or the first of them in a directory.
func loadPolicy(path string) (*vm.Program, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		var files []string
		for _, pat := range []string{"*.risk", "*.rbc"} {
			m, _ := filepath.Glob(filepath.Join(path, pat))
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .risk or .rbc file", path)
		}
		sort.Strings(files)
		path = files[0]
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	prog, _, _, err := compiler.Load(path, data)
	return prog, err
}

// genBodies makes n valid decision requests for prog with synthetic but
// plausible values: identifiers from a large key space (so velocity
// windows hold a realistic few events per key), numbers inside the
// declared bounds, optional inputs present most of the time.
func genBodies(prog *vm.Program, n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	now := time.Now().UTC()
	events := prog.Events
	if len(events) == 0 {
		events = []string{"event"}
	}
	countries := []string{"DE", "DE", "DE", "FR", "NL", "BE", "AT", "IE", "US", "GB"}
	out := make([][]byte, n)
	for i := range out {
		req := api.DecideRequest{Event: events[r.IntN(len(events))], RequestID: fmt.Sprintf("load-%d", i), Features: map[string]json.RawMessage{}}
		var b bytes.Buffer
		for _, in := range prog.Inputs {
			if (in.Optional && r.Float64() < 0.3) || (in.Default != nil && r.Float64() < 0.2) {
				continue
			}
			b.Reset()
			name := strings.ToLower(in.Name)
			switch in.Type {
			case vm.TString:
				var v string
				switch {
				case strings.Contains(name, "country"):
					v = countries[r.IntN(len(countries))]
				case strings.Contains(name, "email"):
					v = fmt.Sprintf("user%d@example.com", r.IntN(50000))
				case strings.HasSuffix(name, "_id") || strings.Contains(name, "user") || strings.Contains(name, "device") || strings.Contains(name, "card"):
					v = fmt.Sprintf("%c%05d", name[0], r.IntN(50000))
				default:
					v = fmt.Sprintf("v%d", r.IntN(100))
				}
				b.WriteString(strconv.Quote(v))
			case vm.TBool:
				b.WriteString(strconv.FormatBool(r.IntN(2) == 0))
			case vm.TTime:
				t := now
				if name != "ts" {
					t = now.Add(-time.Duration(r.Int64N(int64(6 * 365 * 24 * time.Hour))))
				}
				b.WriteString(strconv.Quote(t.Format(time.RFC3339)))
			case vm.TInt:
				lo, hi := bounds(in, 0, 100)
				lo, hi = math.Ceil(lo), math.Floor(hi)
				if in.MinOpen && lo == in.Min {
					lo++
				}
				if in.MaxOpen && hi == in.Max {
					hi--
				}
				v := lo
				if hi > lo {
					v = lo + float64(r.Int64N(int64(hi-lo)+1))
				}
				b.WriteString(strconv.FormatFloat(v, 'f', 0, 64))
			default:
				lo, hi := bounds(in, 0, 10000)
				v := lo + r.Float64()*(hi-lo)
				v = math.Round(v*100) / 100
				if v <= lo && in.MinOpen {
					v = lo + 0.01
				}
				if v >= hi && in.MaxOpen {
					v = hi - 0.01
				}
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			}
			req.Features[in.Name] = append(json.RawMessage(nil), b.Bytes()...)
		}
		body, err := json.Marshal(req)
		if err != nil {
			panic(err) // every value above is valid JSON
		}
		out[i] = body
	}
	return out
}

// bounds returns the declared range, or a default for open sides.
func bounds(in vm.Input, lo, hi float64) (float64, float64) {
	l, h := in.Min, in.Max
	if math.IsInf(l, -1) || l < -1e12 {
		l = math.Min(lo, h-1)
	}
	if math.IsInf(h, 1) || h > 1e12 {
		h = math.Max(hi, l+1)
	}
	return l, h
}
