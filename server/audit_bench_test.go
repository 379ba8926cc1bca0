package server

import (
	"testing"

	"github.com/riskforge/riskforge/audit"
)

// BenchmarkDecideHandlerAudit is BenchmarkDecideHandler with every
// decision recorded in an audit log (sync none: the CPU cost of the
// record, not the disk's sync latency).
func BenchmarkDecideHandlerAudit(b *testing.B) {
	l, err := audit.Open(audit.Options{Dir: b.TempDir(), Sync: audit.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	benchDecideHandler(b, Options{Audit: Audit{Recorder: l}})
}
