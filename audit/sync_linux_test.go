package audit

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkDurableWrite is what one group commit costs the machine, by
// the way the bytes are made durable: an 8 KiB write (about 22 records)
// then durable, in a temporary directory on the real disk. cpu-ns/op is
// the process's CPU time per commit (on a virtual machine a cache flush
// stalls the vCPU, so it counts as system time).
//
//   - append+fdatasync is what the log does: append to the segment,
//     fdatasync (the file's size changes, so the journal commits too);
//   - prefilled+fdatasync overwrites a zero-filled file instead (no size
//     change), as PostgreSQL's WAL does;
//   - direct+dsync writes with O_DIRECT|O_DSYNC into a zero-filled file
//     (no page cache, the write returns once durable).
//
// The log does not use the last two (they need preallocated segments,
// aligned writes and a reader that stops at a zeroed tail);
// docs/AUDIT.md section 10 has the figures and why.
func BenchmarkDurableWrite(b *testing.B) {
	for _, bc := range []struct {
		name     string
		flags    int
		prefill  bool
		datasync bool
	}{
		{"append+fdatasync", 0, false, true},
		{"prefilled+fdatasync", 0, true, true},
		{"direct+dsync", syscall.O_DIRECT | syscall.O_DSYNC, true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "segment")
			size := int64(b.N) * 8192
			if bc.prefill {
				zeroFill(b, path, size)
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|bc.flags, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := alignedBlock(8192)
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.WriteAt(buf, int64(i)*8192); err != nil {
					b.Fatal(err)
				}
				if bc.datasync {
					if err := fdatasync(f); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// zeroFill writes size zero bytes to a new file and syncs it.
func zeroFill(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zero)) {
		if _, err := f.Write(zero[:min(int64(len(zero)), size-off)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// alignedBlock returns n bytes aligned to 4 KiB, as O_DIRECT needs.
func alignedBlock(n int) []byte {
	b := make([]byte, n+4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&b[0]))&4095)) & 4095
	return b[off : off+n]
}

// BenchmarkSyncStall is what a group commit takes from the rest of the
// machine, which on a virtual machine is more than the process CPU time
// BenchmarkDurableWrite reports: one spinning goroutine per CPU counts
// loop iterations alone, then while another thread appends 8 KiB and
// fdatasyncs b.N times; stolen-cpu-ns/op is the spinners' lost CPU time
// per commit (their lost share of the CPUs times the elapsed time, over
// b.N). docs/AUDIT.md section 10 uses it to say how many syncs per second
// a loaded riskd can afford.
func BenchmarkSyncStall(b *testing.B) {
	cpus := runtime.NumCPU()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cpus + 1)) // the syncing thread gets a P of its own
	f, err := os.Create(filepath.Join(b.TempDir(), "segment"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 8192)
	alone := spinRate(cpus, func() { time.Sleep(500 * time.Millisecond) })
	b.ResetTimer()
	t0 := time.Now()
	during := spinRate(cpus, func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for range b.N {
			if _, err := f.Write(buf); err != nil {
				b.Error(err)
				return
			}
			if err := fdatasync(f); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(t0)
	b.StopTimer()
	lost := max(0, 1-during/alone) * float64(cpus) * float64(elapsed.Nanoseconds())
	b.ReportMetric(lost/float64(b.N), "stolen-cpu-ns/op")
}

// spinRate runs one busy loop per CPU while work runs and returns their
// iterations per second.
func spinRate(cpus int, work func()) float64 {
	var stop atomic.Bool
	var n atomic.Int64
	var wg sync.WaitGroup
	for range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !stop.Load() {
				for i := range 1000 {
					x += i * i
				}
				n.Add(1)
			}
			_ = x
		}()
	}
	t0 := time.Now()
	work()
	stop.Store(true)
	wg.Wait()
	return float64(n.Load()) / time.Since(t0).Seconds()
}
