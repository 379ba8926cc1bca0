package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskforge/riskforge/internal/gm"
)

// TestDictionariesPerSegment: records refer to dictionaries written once
// per segment, so every segment stands alone (retention may remove the
// ones before it); reading gives each record its dictionary, sealed or
// not, and the log verifies.
func TestDictionariesPerSegment(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Dir: dir, SegmentBytes: 4096, SigningKey: testKey, Sync: SyncNone}
			if sealed {
				o.Keyring = testKeyring(t)
			}
			l := mustOpen(t, o)
			a, b := NewDict([]byte(`{"kind":"policy","policy":"a"}`)), NewDict([]byte(`{"kind":"policy","policy":"b"}`))
			for i := range 300 {
				d := a
				if i%3 == 0 {
					d = b
				}
				if i%7 == 0 {
					d = nil
				}
				if err := l.AppendRef(fmt.Sprintf("r%d", i), d, body(i))(); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
			if len(segs) < 5 {
				t.Fatalf("%d segments; the test wants several", len(segs))
			}
			if _, err := Verify(dir, &testKey.PublicKey); err != nil {
				t.Fatal(err)
			}
			// Without the first segment (retention), the rest still reads.
			if err := os.Remove(segs[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(dir, &testKey.PublicKey); err != nil {
				t.Fatalf("without the first segment: %v", err)
			}
			dicts, refs := 0, 0
			err := Scan(dir, o.Keyring, func(it *Item) error {
				if it.IsDict {
					dicts++
					return nil
				}
				var i int
				fmt.Sscanf(it.RequestID, "r%d", &i)
				want := "a"
				switch {
				case i%7 == 0:
					want = ""
				case i%3 == 0:
					want = "b"
				}
				got := ""
				if it.HasRef {
					refs++
					var pd PolicyDict
					if err := json.Unmarshal(it.Dict, &pd); err != nil {
						return fmt.Errorf("record %d: dictionary %q: %v", it.Index, it.Dict, err)
					}
					got = pd.Policy
				}
				if got != want || string(it.Body) != string(body(i)) {
					return fmt.Errorf("record %d (%s): dictionary %q, body %s", it.Index, it.RequestID, got, it.Body)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if dicts < 2*(len(segs)-1) || refs == 0 {
				t.Fatalf("%d dictionary records in %d segments, %d references", dicts, len(segs)-1, refs)
			}
		})
	}
}

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	kr, err := NewKeyring(gm.SM4Key{ID: "0102030405060708", Key: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
