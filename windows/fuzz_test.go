package windows

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// FuzzRestoreSnapshot: any bytes are either a sound snapshot or refused
// whole; decoding never panics and a refused one changes nothing.
func FuzzRestoreSnapshot(f *testing.F) {
	m := testStore(Config{}, "count", "count_distinct")
	for i := 0; i < 40; i++ {
		k := vm.WindowKey{Str: fmt.Sprint("k", i%3)}
		observe1(m, 0, k, float64(i), 1, "")
		observe1(m, 1, k, float64(i), 0, fmt.Sprint("v", i))
	}
	var buf bytes.Buffer
	if _, err := m.st.WriteSnapshot(&buf, 7); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("RFWS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fresh := testStore(Config{}, "count", "count_distinct")
		if _, err := fresh.st.RestoreSnapshot(bytes.NewReader(data)); err != nil && fresh.st.Keys() != 0 {
			t.Fatalf("refused snapshot left %d keys", fresh.st.Keys())
		}
	})
}
