package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// Log is the audit log as the window state sees it: where a snapshot's
// cut stands in it, and the records after it. cmd/riskd adapts the
// audit package's Log.
type Log interface {
	// Next is the index the next appended record will get.
	Next() uint64
	// Durable is how many records, from index 0, are durable.
	Durable() uint64
	// WaitDurable returns once the records below n are durable, or the
	// error that keeps them from being so.
	WaitDurable(n uint64) error
	// Records calls fn with the index and JSON body of every record from
	// index from on, in log order.
	Records(from uint64, fn func(index uint64, body []byte) error) error
}

// Resolver finds the window store that a record's observations go to:
// the serving (non-shadow) version of policy whose artifact digest is
// digest, and its number of windows. nil when no such version is loaded.
type Resolver func(policy, digest string) (store vm.WindowStore, windows int)

// ReplayResult says what a start's replay of the audit log did.
type ReplayResult struct {
	Ran      bool   // a replay was attempted
	From     uint64 // first record index read (the snapshot's position)
	Gen      uint64 // the snapshot's cut generation (0: no snapshot)
	Records  uint64 // records read from From on
	Applied  uint64 // records whose window events were re-applied
	Events   uint64 // window observations re-applied
	Held     uint64 // records skipped: the snapshot already holds them (window_gen <= Gen)
	NoGen    uint64 // records skipped: no window_gen (no windows, Redis, refused requests)
	Unknown  uint64 // records skipped: their policy version is not loaded any more
	Seconds  float64
	Err      error // the replay stopped here; windows miss the records after it
	FullFrom bool  // no usable snapshot: the whole log was replayed
}

// replayRecord is the part of a decision record replay reads.
type replayRecord struct {
	Status       int          `json:"status"`
	Policy       string       `json:"policy"`
	PolicyDigest string       `json:"policy_digest"`
	WindowGen    uint64       `json:"window_gen"`
	Windows      []windowRead `json:"windows"`
}

// windowRead is an observation of a record (audit.WindowRead; the state
// package reads the JSON itself so that the server, which imports it,
// stays clear of the audit package).
type windowRead struct {
	Window  int     `json:"window"`
	Name    string  `json:"name"`
	Key     string  `json:"key"`
	KeyNum  float64 `json:"key_num"`
	T       float64 `json:"t"`
	V       float64 `json:"v"`
	S       string  `json:"s"`
	Counted *bool   `json:"counted"`
}

// decodeRecord reads a record body for replay and checks what replay
// relies on: observations numbered 0..n-1 in order, finite times, keys
// and values. A record that fails is an error: the log is checksummed,
// so a bad body means a writer bug or a foreign log, not a torn write.
func decodeRecord(body []byte) (replayRecord, error) {
	var r replayRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("record does not decode: %w", err)
	}
	for i, w := range r.Windows {
		if w.Window != i {
			return r, fmt.Errorf("observation %d is of window %d: observations must list windows 0..n-1 in order", i, w.Window)
		}
		if math.IsNaN(w.T) || math.IsInf(w.T, 0) || math.IsNaN(w.KeyNum) || math.IsInf(w.KeyNum, 0) || math.IsNaN(w.V) || math.IsInf(w.V, 0) {
			return r, fmt.Errorf("observation %d (%s) has a non-finite time, key or value", i, w.Name)
		}
	}
	if r.WindowGen != 0 && len(r.Windows) == 0 {
		return r, errors.New("window_gen without observations")
	}
	return r, nil
}

// replay re-applies the window observations of the records from `from`
// on whose generation is above gen (those up to gen are in the restored
// snapshot). It stops at the first record it cannot read.
func (b *Backend) replay(from, gen uint64, resolve Resolver) ReplayResult {
	res := ReplayResult{Ran: true, From: from, Gen: gen}
	start := time.Now()
	maxGen := gen
	var obs []vm.WindowObs
	var out []float64
	res.Err = b.alog.Records(from, func(index uint64, body []byte) error {
		res.Records++
		if body == nil {
			return fmt.Errorf("record %d is sealed and no configured key opens it", index)
		}
		r, err := decodeRecord(body)
		if err != nil {
			return fmt.Errorf("record %d: %w", index, err)
		}
		switch {
		case r.WindowGen == 0:
			res.NoGen++
			return nil
		case r.WindowGen <= gen:
			res.Held++
			return nil
		}
		maxGen = max(maxGen, r.WindowGen)
		ws, n := resolve(r.Policy, r.PolicyDigest)
		if ws == nil || n != len(r.Windows) {
			res.Unknown++
			return nil
		}
		obs, out = obs[:0], append(out[:0], make([]float64, n)...)
		for _, w := range r.Windows {
			obs = append(obs, vm.WindowObs{Key: vm.WindowKey{Str: w.Key, Num: w.KeyNum}, T: w.T, V: w.V, S: w.S, Add: w.Counted == nil || *w.Counted})
		}
		// A time the store refuses was refused when served too: the
		// replay reproduces it, so the error is not the replay's.
		_ = ws.Observe(obs, out)
		res.Applied++
		res.Events += uint64(n)
		return nil
	})
	// Later calls must not be taken for calls this snapshot, or the
	// records just replayed, already hold.
	b.mem.SetGenerationAbove(maxGen)
	res.Seconds = time.Since(start).Seconds()
	return res
}
