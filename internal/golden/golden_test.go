package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWant reads a golden file as it is, and with -update rewrites it
// from the output first.
func TestWant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(Want(t, path, []byte("new"))); got != "old" {
		t.Fatalf("Want = %q, want the file's %q", got, "old")
	}
	*update = true
	defer func() { *update = false }()
	if got := string(Want(t, path, []byte("new"))); got != "new" {
		t.Fatalf("Want with -update = %q, want the output %q", got, "new")
	}
}
