package audit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
