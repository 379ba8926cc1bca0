package audit

import (
	"os"
	"syscall"
)

// fdatasync flushes file data (and the size) without other metadata.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
