package audit

import (
	"errors"
	"io/fs"
	"sync/atomic"
)

// FaultFS wraps an FS so that every Sync after the first SyncsOK ones
// fails: the fault injection for the fsync-failure path (tests, and riskd's
// RISKD_AUDIT_FAILPOINT=fsync-after=N).
type FaultFS struct {
	FS
	SyncsOK int64
	syncs   atomic.Int64
}

// ErrInjected is the error FaultFS's syncs return.
var ErrInjected = errors.New("injected fsync failure (EIO)")

// OpenFile opens a file whose Sync fails once the budget is spent.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{file, f}, nil
}

type faultFile struct {
	File
	fs *FaultFS
}

func (f faultFile) Sync() error {
	if f.fs.syncs.Add(1) > f.fs.SyncsOK {
		return ErrInjected
	}
	return f.File.Sync()
}
