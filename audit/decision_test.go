package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/riskforge/riskforge/internal/gm"
)

func sampleCompact() *Compact {
	return &Compact{Endpoint: "kafka", Index: -1, Status: 200, InputSM3: [32]byte{1, 2, 3}, Arm: "champion", Decision: "review",
		Score: 1.5, LatencyUS: 321, WindowGen: 7,
		Rules:    []RuleHit{{Rule: 1, Weight: 0}, {Rule: 0, Weight: 1.25}},
		Models:   []ModelHit{{Ran: true, Value: 0.75}},
		Windows:  []WindowHit{{Window: 1, Key: "u1", T: 1.7e9, V: 2, Value: 3}, {Window: 0, Key: "d1", S: "u1", NotCounted: true, Value: 1}},
		Features: []byte(`{"amount":10,"user_id":"[masked]"}`)}
}

var sampleDict = PolicyDict{Policy: "loan", Version: "v1", PolicyDigest: "sha256:ab",
	Rules:   []DictRule{{Name: "high", Reason: "too high"}, {Name: "blocked", Reason: "blocked device", Action: "reject"}},
	Models:  []DictModel{{Name: "risk", Path: "m.onnx", SHA256: "cd"}},
	Windows: []string{"users_on_device", "apps_1h"}}

// TestCompactDecisionExpands: a format 2 body and its dictionary give the
// same full decision a format 1 JSON record held.
func TestCompactDecisionExpands(t *testing.T) {
	dict, err := EncodePolicyDict(&sampleDict)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDecision("req-1", AppendCompact(nil, sampleCompact()), dict)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &Decision{RequestID: "req-1", Endpoint: "kafka", Status: 200, InputSM3: fmt.Sprintf("%x", [32]byte{1, 2, 3}),
		Policy: "loan", Version: "v1", PolicyDigest: "sha256:ab", Arm: "champion", Decision: "review", Score: 1.5, LatencyUS: 321, WindowGen: 7,
		Rules:    []FiredRule{{Name: "blocked", Reason: "blocked device", Action: "reject"}, {Name: "high", Reason: "too high", Weight: 1.25}},
		Models:   []ModelOutput{{Name: "risk", Path: "m.onnx", SHA256: "cd", Ran: true, Value: 0.75}},
		Windows:  []WindowRead{{Window: 1, Name: "apps_1h", Key: "u1", T: 1.7e9, V: 2, Value: 3}, {Window: 0, Name: "users_on_device", Key: "d1", S: "u1", Value: 1, Counted: &f}},
		Features: map[string]json.RawMessage{"amount": json.RawMessage("10"), "user_id": json.RawMessage(`"[masked]"`)}}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("decoded\n%s\nwant\n%s", g, w)
	}
	// A rule, model or window the dictionary does not have is an error.
	for _, c := range []*Compact{{Rules: []RuleHit{{Rule: 2}}}, {Models: make([]ModelHit, 2)}, {Windows: []WindowHit{{Window: 2}}}} {
		if _, err := DecodeDecision("r", AppendCompact(nil, c), dict); err == nil {
			t.Errorf("%+v decoded against a dictionary without it", c)
		}
	}
	body := AppendCompact(nil, sampleCompact())
	for n := range len(body) {
		if _, err := DecodeDecision("r", body[:n], dict); err == nil {
			t.Fatalf("body cut at %d of %d decodes", n, len(body))
		}
	}
}

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
