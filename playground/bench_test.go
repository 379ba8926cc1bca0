package playground

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// examplePolicies loads every example policy as riskd would serve it.
func examplePolicies(b *testing.B) []Policy {
	files, _ := filepath.Glob("../examples/*/*.risk")
	var out []Policy
	for _, f := range files {
		out = append(out, loadPolicy(b, f))
	}
	return out
}

// BenchmarkPlaygroundRun is the page's Run round trip over HTTP for each
// example policy: decode the request, evaluate it with tracing, encode the
// explanation. "warm" is the page's flow (the text was checked when typing
// paused, so its compilation is cached); "cold" changes the text every
// time (a comment), so each run also parses, checks and compiles it.
// BenchmarkPlaygroundPeerCompileEval is the cold work without HTTP and
// JSON, its peer.
func BenchmarkPlaygroundRun(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) { benchRun(b, cold) })
	}
}

func benchRun(b *testing.B, cold bool) {
	pols := examplePolicies(b)
	srv := newServer(b, Options{Enabled: true, Rate: 1e9, Burst: 1 << 30, Policies: func() []Policy { return pols }})
	for _, p := range pols {
		b.Run(filepath.Base(p.Path), func(b *testing.B) {
			_, chk := post(b, srv, "check", map[string]any{"source": p.Source, "path": p.Path})
			body, _ := json.Marshal(map[string]any{"source": p.Source, "path": p.Path, "request": chk["sample"]})
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if cold {
					body, _ = json.Marshal(map[string]any{"source": p.Source + "# run " + strconv.Itoa(i) + "\n", "path": p.Path, "request": chk["sample"]})
				}
				resp, err := http.Post(srv.URL+Prefix+"/api/run", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				var out runResponse
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || out.Action == "" {
					b.Fatalf("run: %d %v", resp.StatusCode, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

func BenchmarkPlaygroundPeerCompileEval(b *testing.B) {
	pols := examplePolicies(b)
	h := New(Options{Enabled: true, Policies: func() []Policy { return pols }})
	for _, p := range pols {
		b.Run(filepath.Base(p.Path), func(b *testing.B) {
			c := h.compileNow(p.Path, sourceRequest{Source: p.Source, Path: p.Path})
			req, _ := json.Marshal(sample(c.prog))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := h.compileNow(p.Path, sourceRequest{Source: p.Source, Path: p.Path})
				if _, _, err := evaluate(c.prog, nil, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the CPU time this process has used (the test's client and
// server both): on a shared machine it shows the work apart from waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
