// Package golden is the read-or-rewrite step of the golden-file tests
// (diagnostics, formatting, rule rewriting, the report page): one -update
// flag with one meaning in every package, instead of a flag and the same
// write-then-read code in each. Only test files import it.
package golden

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// Want returns the golden content at path, for the caller to compare got
// with in its own words. With -update it first writes got to path, so
// the comparison passes and the change shows in the repository's diff
// for review. A missing golden file fails the test and says how to make
// it.
func Want(tb testing.TB, path string, got []byte) []byte {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (rerun the test with -update to write it)", err)
	}
	return want
}
