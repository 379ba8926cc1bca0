package state

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/riskforge/riskforge/audit"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// memLog is an in-memory audit log of JSON records.
type memLog struct {
	mu   sync.Mutex
	recs [][]byte
}

func (l *memLog) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.recs))
}
func (l *memLog) Durable() uint64          { return l.Next() }
func (l *memLog) WaitDurable(uint64) error { return nil }
func (l *memLog) Records(from uint64, fn func(uint64, []byte) error) error {
	l.mu.Lock()
	recs := l.recs
	l.mu.Unlock()
	for i := from; i < uint64(len(recs)); i++ {
		if err := fn(i, recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// replayProg has a counted window and one that counts only amounts > 5.
func replayProg() *vm.Program {
	return &vm.Program{Inputs: []vm.Input{{Name: "card", Type: vm.TString}},
		Windows: []vm.Window{
			{Name: "n", Agg: "count", OverSec: 3600, Keys: []vm.KeyPart{{String: true}}},
			{Name: "big", Agg: "sum", OverSec: 3600, Keys: []vm.KeyPart{{String: true}}},
		}}
}

// decide does what riskd does for one decision: hold the store's
// generation, observe, append the record (with window_gen and counted),
// release.
func decide(t *testing.T, ws vm.WindowStore, log *memLog, card string, ts, amount float64) {
	gm := ws.(*windows.Memory)
	g := gm.Hold()
	defer gm.Release(g)
	decideAt(t, gm, g, log, card, ts, amount)
}

func decideAt(t *testing.T, gm *windows.Memory, g uint64, log *memLog, card string, ts, amount float64) {
	big := amount > 5
	obs := []vm.WindowObs{{Key: vm.WindowKey{Str: card}, T: ts, V: 1, Add: true}, {Key: vm.WindowKey{Str: card}, T: ts, V: amount, Add: big}}
	out := make([]float64, 2)
	if err := gm.ObserveAt(g, obs, out); err != nil {
		t.Fatal(err)
	}
	d := audit.Decision{Status: 200, Policy: "p", PolicyDigest: "d1", WindowGen: g}
	for i, o := range obs {
		w := audit.WindowRead{Window: i, Key: o.Key.Str, T: o.T, V: o.V, Value: out[i]}
		if !o.Add {
			f := false
			w.Counted = &f
		}
		d.Windows = append(d.Windows, w)
	}
	body, _ := json.Marshal(d)
	log.mu.Lock()
	log.recs = append(log.recs, body)
	log.mu.Unlock()
}

func readAll(ws vm.WindowStore, cards int) string {
	var b strings.Builder
	for c := 0; c < cards; c++ {
		obs := []vm.WindowObs{{Key: vm.WindowKey{Str: fmt.Sprint("c", c)}, T: 5000}, {Key: vm.WindowKey{Str: fmt.Sprint("c", c)}, T: 5000}}
		out := make([]float64, 2)
		ws.Observe(obs, out)
		fmt.Fprintf(&b, "c%d=%v/%v ", c, out[0], out[1])
	}
	return b.String()
}

// TestReplayAfterSnapshot: decisions before, during and after a periodic
// snapshot, then a crash (no shutdown snapshot). A new backend restores
// the snapshot and replays the audit records after it: every card's
// windows equal the crashed process's, the straggler that held the cut's
// generation is skipped (not counted twice), not-counted observations are
// not added, and a record that does not decode stops the replay and
// shows in the status.
func TestReplayAfterSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.snap")
	log := &memLog{}
	b, _ := Open(memoryConfig(path), nil)
	b.SetLog(log)
	ws, _ := b.Bind(replayProg(), "lane|")
	for i := 0; i < 300; i++ {
		decide(t, ws, log, fmt.Sprint("c", i%7), 1000+float64(i), float64(i%11))
	}
	// A straggler holds the generation across the snapshot's cut.
	gm := ws.(*windows.Memory)
	g := gm.Hold()
	done := make(chan error)
	go func() { done <- b.Snapshot() }()
	for gm.Store().Generation() == g {
	}
	decide(t, ws, log, "c1", 1400, 9) // a later generation, same card
	decideAt(t, gm, g, log, "c1", 1401, 8)
	gm.Release(g)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		decide(t, ws, log, fmt.Sprint("c", i%7), 1500+float64(i), float64(i%11))
	}
	want := readAll(ws, 7)

	b2, _ := Open(memoryConfig(path), nil)
	b2.SetLog(log)
	ws2, _ := b2.Bind(replayProg(), "lane|")
	b2.Restore(func(policy, digest string) (vm.WindowStore, int) {
		if policy == "p" && digest == "d1" {
			return ws2, 2
		}
		return nil, 0
	})
	st := b2.Status()
	r := st.Replay
	if r.Err != nil || r.Held != 1 || r.Applied != 201 || r.From != 300 {
		t.Fatalf("replay: %+v; want 201 applied from record 300 and the straggler skipped", r)
	}
	if got := readAll(ws2, 7); got != want {
		t.Fatalf("after restore and replay:\n%s\nthe crashed process had:\n%s", got, want)
	}
	if !strings.Contains(st.Detail, "replayed 201 audit records") {
		t.Errorf("status detail: %s", st.Detail)
	}

	// A record replay cannot read stops it, and the status says so.
	log.recs = append(log.recs, []byte(`{"status":200,"window_gen":99999,"windows":[{"window":1,"t":1}]}`))
	b3, _ := Open(memoryConfig(path), nil)
	b3.SetLog(log)
	ws3, _ := b3.Bind(replayProg(), "lane|")
	b3.Restore(func(string, string) (vm.WindowStore, int) { return ws3, 2 })
	if st := b3.Status(); st.Replay.Err == nil || !strings.Contains(st.Detail, "window replay FAILED") {
		t.Fatalf("bad record: %+v", st)
	}
}

// FuzzReplayRecord: any record body either decodes into observations
// replay can apply (numbered in order, finite) or is refused; never a
// panic.
func FuzzReplayRecord(f *testing.F) {
	f.Add([]byte(`{"status":200,"policy":"p","policy_digest":"d","window_gen":3,"windows":[{"window":0,"key":"k","key_num":0,"t":1,"v":2,"counted":false,"value":1}]}`))
	f.Add([]byte(`{"windows":[{"window":1}]}`))
	f.Add([]byte(`{"window_gen":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRecord(body)
		if err != nil {
			return
		}
		for i, w := range r.Windows {
			if w.Window != i || w.T != w.T {
				t.Fatalf("accepted observation %d: %+v", i, w)
			}
		}
	})
}
