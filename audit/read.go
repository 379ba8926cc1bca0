package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Item is one record read back from the log.
type Item struct {
	Envelope
	Segment string // base name of its segment
	Offset  int64  // where its frame starts in the segment
	End     int64  // where its frame ends
	Payload []byte
	Body    []byte // as written; nil when sealed and not opened
	Hash    Hash   // h_i = SM3(h_{i-1} || payload)
	// Dict is the body of the dictionary record this record refers to
	// (HasRef), nil when that is sealed and not opened.
	Dict []byte
}

// dictTable holds the dictionary records of one segment by index, their
// bodies opened (nil when sealed and not opened).
type dictTable map[uint64][]byte

// open fills it.Body, decrypting with kr when sealed.
func (it *Item) open(body []byte, kr *Keyring) error {
	if !it.Sealed {
		it.Body = body
		return nil
	}
	if kr == nil {
		return nil
	}
	b, err := kr.Open(&it.Envelope, it.Payload)
	if err != nil {
		return err
	}
	it.Body = b
	return nil
}

// Scan calls fn for every record in dir, in order, opening sealed bodies
// with kr (nil leaves them sealed). Damaged framing stops it with a
// *DamageError.
func Scan(dir string, kr *Keyring, fn func(*Item) error) error {
	segs, err := listSegments(OS, dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("%s holds no audit segments (*%s)", dir, segmentExt)
	}
	for _, s := range segs {
		data, err := os.ReadFile(s.path(dir))
		if err != nil {
			return err
		}
		if _, err := scanFrames(data, 0, s, kr, false, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanFrames decodes the frames of a segment from off. With partialOK a
// frame cut short at the end is not an error (a writer is busy): the
// returned offset is where reading should resume.
func scanFrames(data []byte, off int, s Segment, kr *Keyring, partialOK bool, fn func(*Item) error) (int, error) {
	return scanFramesDicts(data, off, s, kr, partialOK, dictTable{}, fn)
}

// scanFramesDicts is scanFrames with the segment's dictionaries read so
// far (Follow reads a segment in steps).
func scanFramesDicts(data []byte, off int, s Segment, kr *Keyring, partialOK bool, dicts dictTable, fn func(*Item) error) (int, error) {
	for off < len(data) {
		payload, size, ferr := readFrame(data[off:])
		if ferr != nil {
			if partialOK && errors.Is(ferr, errShort) {
				return off, nil
			}
			return off, &DamageError{Path: s.Name, Offset: int64(off), Reason: ferr.Error()}
		}
		e, body, rerr := DecodeEnvelope(payload)
		if rerr != nil {
			return off, &DamageError{Path: s.Name, Offset: int64(off), Reason: "record does not decode: " + rerr.Error()}
		}
		it := &Item{Envelope: e, Segment: s.Name, Offset: int64(off), End: int64(off + size), Payload: payload, Hash: chain(e.Prev, payload)}
		if e.HasRef {
			d, ok := dicts[e.Ref]
			if !ok {
				return off, &DamageError{Path: s.Name, Offset: int64(off), Reason: fmt.Sprintf("record %d refers to dictionary record %d, which is not a dictionary record before it in its segment", e.Index, e.Ref)}
			}
			it.Dict = d
		}
		if err := it.open(body, kr); err != nil {
			return off, err
		}
		if e.IsDict {
			dicts[e.Index] = it.Body
		}
		if err := fn(it); err != nil {
			return off, err
		}
		off += size
	}
	return off, nil
}

// Follow calls fn for every record from index from on, then for new
// records as they are written (following new segments), until ctx ends.
func Follow(ctx context.Context, dir string, kr *Keyring, from uint64, poll time.Duration, fn func(*Item) error) error {
	var cur Segment
	off := 0
	dicts := dictTable{}
	for {
		segs, err := listSegments(OS, dir)
		if err != nil {
			return err
		}
		progressed := false
		for _, s := range segs {
			if s.Seq < cur.Seq {
				continue
			}
			if s.Seq > cur.Seq {
				cur, off, dicts = s, 0, dictTable{}
			}
			data, err := os.ReadFile(filepath.Join(dir, s.Name))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // removed by retention
				}
				return err
			}
			n, err := scanFramesDicts(data, off, s, kr, true, dicts, func(it *Item) error {
				if it.Index < from {
					return nil
				}
				return fn(it)
			})
			if err != nil {
				return err
			}
			progressed = progressed || n != off
			off = n
		}
		if progressed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// ScanFrom calls fn for every record of the open log from index from on,
// in order, with bodies opened by the log's keyring (Body is nil for a
// sealed record no key opens). Window replay uses it at start, before
// anything is appended. Segments wholly before from are not read. A log
// whose oldest kept record comes after from > 0 (retention removed the
// rest) is an error, since the caller would miss records; from 0 means
// from the oldest record kept.
func (l *Log) ScanFrom(from uint64, fn func(*Item) error) error {
	segs, err := listSegments(l.o.FS, l.o.Dir)
	if err != nil {
		return err
	}
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].First <= from {
			continue // every record of s comes before from
		}
		if i == 0 && s.First > from && from > 0 {
			return fmt.Errorf("audit log %s: records %d to %d are gone (its oldest segment starts at %d)", l.o.Dir, from, s.First-1, s.First)
		}
		data, err := l.o.FS.ReadFile(s.path(l.o.Dir))
		if err != nil {
			return err
		}
		if _, err := scanFrames(data, 0, s, l.o.Keyring, false, func(it *Item) error {
			if it.Index < from {
				return nil
			}
			return fn(it)
		}); err != nil {
			return err
		}
	}
	return nil
}
