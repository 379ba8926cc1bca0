package vm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// badWindowLengths are lengths no compiled policy has (the compiler
// requires `over` to be positive) and no store can work with.
var badWindowLengths = []float64{0, math.Copysign(0, -1), -3600, math.NaN(), math.Inf(1), math.Inf(-1)}

// TestPrepareRefusesBadWindowLength: a hand-built or altered program
// whose window length is not a positive, finite number of seconds is
// refused before use; a one-second window is fine.
func TestPrepareRefusesBadWindowLength(t *testing.T) {
	for _, over := range append(badWindowLengths, 1, 1e-3) {
		p, ok := compileFile(t, allConstructs)
		if !ok {
			t.Fatalf("%s must compile", allConstructs)
		}
		p.Windows[0].OverSec = over
		err := p.Prepare()
		if bad := !(over > 0) || math.IsInf(over, 0); bad {
			if err == nil || !strings.Contains(err.Error(), `window "tx_1h": length`) {
				t.Errorf("over %v: got %v, want the window length refused", over, err)
			}
		} else if err != nil {
			t.Errorf("over %v: %v", over, err)
		}
	}
}

// TestDecodeRefusesBadWindowLength: the same through an artifact whose
// window length was altered and its checksum recomputed.
func TestDecodeRefusesBadWindowLength(t *testing.T) {
	p, ok := compileFile(t, allConstructs)
	if !ok {
		t.Fatalf("%s must compile", allConstructs)
	}
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	hour := binary.LittleEndian.AppendUint64(nil, math.Float64bits(3600))
	if n := bytes.Count(data, hour); n != 1 {
		t.Fatalf("the float 3600 (tx_1h's length) occurs %d times in the artifact; the test needs it once", n)
	}
	at := bytes.Index(data, hour)
	for _, over := range badWindowLengths {
		bad := bytes.Clone(data[:len(data)-sha256.Size])
		binary.LittleEndian.PutUint64(bad[at:], math.Float64bits(over))
		sum := sha256.Sum256(bad)
		if _, err := vm.Decode(append(bad, sum[:]...)); err == nil || !strings.Contains(err.Error(), `window "tx_1h": length`) {
			t.Errorf("over %v: got %v, want the window length refused", over, err)
		}
	}
	sane := bytes.Clone(data[:len(data)-sha256.Size])
	binary.LittleEndian.PutUint64(sane[at:], math.Float64bits(7200))
	sum := sha256.Sum256(sane)
	q, err := vm.Decode(append(sane, sum[:]...))
	if err != nil || q.Windows[0].OverSec != 7200 {
		t.Fatalf("a 2h window: %v", err)
	}
}
