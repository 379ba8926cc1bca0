package audit

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

// loanCompact is a decision the size of examples/loan_ml's: 8 fired
// rules, 2 models, 3 window observations.
func loanCompact() *Compact {
	c := &Compact{Endpoint: "decide", Index: -1, Status: 200, Arm: "champion", Decision: "reject", Score: 0.96, LatencyUS: 468}
	for i := range 8 {
		c.Rules = append(c.Rules, RuleHit{Rule: i, Weight: 1.25})
	}
	c.Models = []ModelHit{{Ran: true, Value: 0.84}, {}}
	c.Windows = []WindowHit{{Window: 0, Key: "u36653", T: 1.796554368e9, V: 1, Value: 5},
		{Window: 1, Key: "u36653", T: 1.796554368e9, V: 83306.96, Value: 336376.89},
		{Window: 2, Key: "d01026", T: 1.796554368e9, S: "u36653", Value: 1}}
	return c
}

// BenchmarkAppendRecord is the log's cost per record under load: 64
// goroutines (make load's connections) append and wait, and the writer
// frames, chains and writes them in groups. compact is a format 2
// decision of examples/loan_ml's size with its dictionary; json is the
// same decision as a format 1 JSON body (about 1.5 KB). Under sync none
// the disk's latency is left out; under batch every group is
// fdatasynced on the real disk (a temporary directory), as riskd does by
// default. cpu-ns/op is the process's CPU time per record (the appenders,
// the writer and the fdatasyncs); records/sync is the mean group size.
func BenchmarkAppendRecord(b *testing.B) {
	dict := NewDict(bytes.Repeat([]byte("x"), 1200))
	compact := AppendCompact(nil, loanCompact())
	jsonBody := bytes.Repeat([]byte("j"), 1480)
	for _, bc := range []struct {
		name string
		sync SyncPolicy
		dict *Dict
		body []byte
	}{{"compact", SyncNone, dict, compact}, {"json", SyncNone, nil, jsonBody}, {"compact", SyncBatch, dict, compact}} {
		b.Run(fmt.Sprintf("%s-%dB-%s", bc.name, len(bc.body), bc.sync), func(b *testing.B) {
			counted := &FaultFS{FS: OS, SyncsOK: math.MaxInt64} // counts the syncs
			l, err := Open(Options{Dir: b.TempDir(), Sync: bc.sync, FS: counted})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			syncs0 := counted.syncs.Load()
			b.SetParallelism(64 / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.AppendRef("load-4630", bc.dict, bc.body)(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if n := counted.syncs.Load() - syncs0; n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "records/sync")
			}
		})
	}
}

// processCPU is the user+system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendCompact is the encoding of one decision record.
func BenchmarkAppendCompact(b *testing.B) {
	c := loanCompact()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCompact(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkSM3 is tjfoc's SM3 (through internal/gm) on a format 2 record,
// a request body and a format 1 record.
func BenchmarkSM3(b *testing.B) {
	for _, n := range []int{300, 450, 1600} {
		data := bytes.Repeat([]byte{7}, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				gm.SM3(data)
			}
		})
	}
}
