package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/riskforge/riskforge/internal/gm"
)

// Report summarises a successful Verify.
type Report struct {
	Records     uint64 // records checked
	First       uint64 // index of the oldest retained record
	Segments    int
	Head        Hash
	Checkpoints int    // checkpoints whose signature and head were checked
	Covered     uint64 // records covered by the newest checkpoint
	Notes       []string
}

// VerifyError names the first thing that does not hold.
type VerifyError struct {
	Where  string // segment and offset, or the checkpoint file
	Record int64  // index of the bad record, -1 when not about a record
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Record >= 0 {
		return fmt.Sprintf("record %d (%s): %s", e.Record, e.Where, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Where, e.Reason)
}

// Verify checks the log in dir: every frame's length and CRC, every
// record's index and chain link h_i = SM3(h_{i-1} || record_i), and every
// checkpoint's SM2 signature (with pub; nil uses the key riskd wrote
// beside the log, which an attacker could have replaced: pass the key
// you trust) and head against the records.
func Verify(dir string, pub *gm.PublicKey) (*Report, error) {
	rep := &Report{}
	ckpts, err := readCheckpoints(dir, pub, rep)
	if err != nil {
		return nil, err
	}
	want := map[uint64][]*Checkpoint{}
	for _, c := range ckpts {
		want[c.Count-1] = append(want[c.Count-1], c)
	}
	segs, err := listSegments(OS, dir)
	if err != nil {
		return nil, &VerifyError{Where: dir, Record: -1, Reason: err.Error()}
	}
	if len(segs) == 0 {
		return nil, &VerifyError{Where: dir, Record: -1, Reason: "no audit segments (*" + segmentExt + ")"}
	}
	rep.Segments, rep.First = len(segs), segs[0].First
	if rep.First > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("records before %d were removed by retention; the chain is checked from record %d, whose link to the removed record is taken as given", rep.First, rep.First))
	}
	ck := &chainCheck{next: rep.First, havePrev: rep.First == 0, want: want}
	for _, s := range segs {
		if s.First != ck.next {
			return nil, &VerifyError{Where: s.Name, Record: int64(ck.next), Reason: fmt.Sprintf("segment starts at record %d but record %d was expected: records are missing", s.First, ck.next)}
		}
		data, err := os.ReadFile(s.path(dir))
		if err != nil {
			return nil, err
		}
		if err := ck.segment(s, data, 0); err != nil {
			return nil, err
		}
	}
	next, prev := ck.next, ck.prev
	rep.Checkpoints = ck.checked
	rep.Records, rep.Head = next-rep.First, prev
	for _, c := range ckpts {
		if c.Count > next {
			return nil, &VerifyError{Where: checkpointLog, Record: int64(next), Reason: fmt.Sprintf("the checkpoint of %s says %d records were written, the log holds %d: records were removed from its end", c.Time.Format("2006-01-02T15:04:05.000Z"), c.Count, next)}
		}
		if c.Count-1 < rep.First {
			continue
		}
		rep.Covered = max(rep.Covered, c.Count)
	}
	if skipped := len(ckpts) - rep.Checkpoints; skipped > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d checkpoints refer to records removed by retention; only their signatures were checked", skipped))
	}
	return rep, nil
}

// readCheckpoints decodes and verifies every checkpoint in dir.
func readCheckpoints(dir string, pub *gm.PublicKey, rep *Report) ([]*Checkpoint, error) {
	path := filepath.Join(dir, checkpointLog)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		rep.Notes = append(rep.Notes, "no checkpoints (riskd ran without audit.signing_key): the chain is checked, but truncation of the log's end cannot be detected")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if pub == nil {
		pub, err = gm.LoadPublicKey(filepath.Join(dir, PublicKeyFile))
		if err != nil {
			return nil, fmt.Errorf("checkpoints need a public key: pass --pubkey FILE (%v)", err)
		}
		rep.Notes = append(rep.Notes, "checkpoint signatures were checked with "+PublicKeyFile+" from the log directory itself; pass --pubkey with the key you trust")
	}
	var out []*Checkpoint
	var last uint64
	for off := 0; off < len(data); {
		p, size, ferr := readFrame(data[off:])
		where := fmt.Sprintf("%s offset %d", checkpointLog, off)
		if ferr != nil {
			return nil, &VerifyError{Where: where, Record: -1, Reason: "checkpoint framing: " + ferr.Error()}
		}
		c, err := DecodeCheckpoint(p)
		if err != nil {
			return nil, &VerifyError{Where: where, Record: -1, Reason: err.Error()}
		}
		if err := VerifyCheckpoint(c, pub); err != nil {
			return nil, &VerifyError{Where: where, Record: -1, Reason: "checkpoint signature: " + err.Error()}
		}
		if c.Count == 0 || c.Count < last {
			return nil, &VerifyError{Where: where, Record: -1, Reason: fmt.Sprintf("checkpoint count %d after %d: checkpoints go forward", c.Count, last)}
		}
		last = c.Count
		out = append(out, c)
		off += size
	}
	return out, nil
}

// chainCheck is Verify's state between records: the next index expected
// and the previous record's hash.
type chainCheck struct {
	next     uint64
	prev     Hash
	havePrev bool
	want     map[uint64][]*Checkpoint
	checked  int
	// dicts are the dictionary records of the segment read so far.
	dicts dictTable
}

// segment checks the records of one segment from offset off (from its
// start, off 0, with no dictionaries known yet).
func (ck *chainCheck) segment(s Segment, data []byte, off int) error {
	if off == 0 || ck.dicts == nil {
		ck.dicts = dictTable{}
	}
	_, err := scanFramesDicts(data, off, s, nil, false, ck.dicts, func(it *Item) error {
		where := fmt.Sprintf("%s offset %d", s.Name, it.Offset)
		if it.Index != ck.next {
			return &VerifyError{Where: where, Record: int64(ck.next), Reason: fmt.Sprintf("holds record index %d: a record was removed, repeated or moved", it.Index)}
		}
		if ck.havePrev && it.Prev != ck.prev {
			return &VerifyError{Where: where, Record: int64(ck.next), Reason: fmt.Sprintf("chain broken: the record says the previous hash is %s, the previous record hashes to %s", it.Prev, ck.prev)}
		}
		for _, c := range ck.want[it.Index] {
			if c.Head != it.Hash {
				return &VerifyError{Where: where, Record: int64(ck.next), Reason: fmt.Sprintf("the checkpoint of %s says record %d hashes to %s, it hashes to %s", c.Time.Format("2006-01-02T15:04:05.000Z"), it.Index, c.Head, it.Hash)}
			}
			if c.Segment() != s.Name || int64(c.Offset) != it.End {
				return &VerifyError{Where: where, Record: int64(ck.next), Reason: fmt.Sprintf("the checkpoint of %s puts the end of record %d at %s offset %d, it ends at %s offset %d", c.Time.Format("2006-01-02T15:04:05.000Z"), it.Index, c.Segment(), c.Offset, s.Name, it.End)}
			}
			ck.checked++
		}
		ck.prev, ck.havePrev = it.Hash, true
		ck.next++
		return nil
	})
	var de *DamageError
	if errors.As(err, &de) {
		return &VerifyError{Where: fmt.Sprintf("%s offset %d", s.Name, de.Offset), Record: int64(ck.next), Reason: de.Reason}
	}
	return err
}
