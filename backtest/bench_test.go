package backtest

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
)

// BenchmarkRunPayments replays the payments history ten times over (about
// 84,000 rows, windows fed in event-time order) as riskc eval does, from
// CSV bytes in memory. Besides wall time it reports CPU time per run
// (cpu-ms/op, from getrusage), which is what to compare on a busy machine.
func BenchmarkRunPayments(b *testing.B) {
	src, err := os.ReadFile("../examples/payments/card_fraud.risk")
	if err != nil {
		b.Fatal(err)
	}
	pol, diags := compiler.CheckSource("../examples/payments/card_fraud.risk", src, compiler.Options{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{ReadFile: os.ReadFile})
	if err != nil {
		b.Fatal(err)
	}
	hist, err := os.ReadFile("../examples/payments/history.csv")
	if err != nil {
		b.Fatal(err)
	}
	header, body, _ := bytes.Cut(hist, []byte("\n"))
	data := append(append([]byte(nil), header...), '\n')
	for range 10 {
		data = append(data, body...)
	}
	var cpu time.Duration
	rows := 0
	b.ResetTimer()
	for range b.N {
		t0 := cpuTime()
		r, err := dataset.NewReader(bytes.NewReader(data), "history.csv", prog, dataset.Options{Label: "fraud"})
		if err != nil {
			b.Fatal(err)
		}
		ord, err := dataset.Order(r, prog, dataset.OrderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		_, stats, err := Run(prog, ord, Options{})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - t0
		rows = stats.Rows
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(rows), "rows")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
