package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DamageError is damage recovery will not repair: it is not a torn tail.
type DamageError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s offset %d: %s", e.Path, e.Offset, e.Reason)
}

// recover scans every segment, truncates a torn tail of the last one and
// opens it for appending.
func (l *Log) recover() error {
	segs, err := listSegments(l.o.FS, l.o.Dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		s := Segment{Seq: 1, First: 0}
		s.Name = segmentName(1, 0)
		f, err := l.o.FS.OpenFile(s.path(l.o.Dir), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		if err := l.o.FS.SyncDir(l.o.Dir); err != nil {
			f.Close()
			return fmt.Errorf("audit log: fsync directory: %w", err)
		}
		l.seg, l.segInfo = f, s
		l.metrics.segments.Set(1)
		l.durable = Checkpoint{SegSeq: 1}
		return nil
	}
	next := segs[0].First
	var head Hash
	for i, s := range segs {
		last := i == len(segs)-1
		if s.First != next {
			return fmt.Errorf("audit log: segment %s should start at record %d: records are missing; riskd will not start (run riskd audit verify %s)", s.Name, next, l.o.Dir)
		}
		data, err := l.o.FS.ReadFile(s.path(l.o.Dir))
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		good, n, h, err := scanSegment(data, s, next)
		if err != nil {
			var de *DamageError
			if !errors.As(err, &de) {
				return err
			}
			de.Path = s.path(l.o.Dir)
			if !last || de.Reason != tornReason {
				return fmt.Errorf("audit log damaged before its tail: %w; riskd will not start (run riskd audit verify %s; do not delete records to get past this)", de, l.o.Dir)
			}
			if err := l.truncateTail(s, data, good); err != nil {
				return err
			}
		}
		if n > 0 {
			head = h
		}
		next += n
		if last {
			f, err := l.o.FS.OpenFile(s.path(l.o.Dir), os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				return fmt.Errorf("audit log: %w", err)
			}
			l.seg, l.segInfo, l.segSize = f, s, int64(good)
		}
	}
	l.next, l.head = next, head
	l.durable = Checkpoint{SegSeq: l.segInfo.Seq, SegFirst: l.segInfo.First, Offset: uint64(l.segSize), Count: next, Head: head}
	l.lastCkpt = next
	l.metrics.segments.Set(float64(len(segs)))
	l.o.Logger.Info("audit log opened", "dir", l.o.Dir, "records", next, "segments", len(segs), "head", head.String(), "sync", string(l.o.Sync))
	return nil
}

const tornReason = "torn tail"

// scanSegment checks the frames and record headers of one segment whose
// first record should be index first. It returns the length of the good
// prefix, the records in it and the hash of the last one. A bad frame
// with nothing valid after it is reported with tornReason.
func scanSegment(data []byte, s Segment, first uint64) (good int, n uint64, head Hash, err error) {
	off := 0
	for off < len(data) {
		payload, size, ferr := readFrame(data[off:])
		if ferr != nil {
			if after := validFrameAfter(data, off+8); after >= 0 {
				return off, n, head, &DamageError{Offset: int64(off), Reason: fmt.Sprintf("%v (a valid record follows at offset %d)", ferr, after)}
			}
			return off, n, head, &DamageError{Offset: int64(off), Reason: tornReason}
		}
		e, _, rerr := DecodeEnvelope(payload)
		if rerr != nil {
			return off, n, head, &DamageError{Offset: int64(off), Reason: "record does not decode: " + rerr.Error()}
		}
		if e.Index != first+n {
			return off, n, head, &DamageError{Offset: int64(off), Reason: fmt.Sprintf("record index %d where %d was expected", e.Index, first+n)}
		}
		head = chain(e.Prev, payload)
		n++
		off += size
	}
	return off, n, head, nil
}

// truncateTail keeps the bytes after good in a .broken file, then cuts
// the segment there.
func (l *Log) truncateTail(s Segment, data []byte, good int) error {
	path := s.path(l.o.Dir)
	broken := path + ".broken"
	if _, err := l.o.FS.ReadFile(broken); err == nil {
		broken = path + "." + strconv.FormatInt(time.Now().UnixNano(), 10) + ".broken"
	}
	bf, err := l.o.FS.OpenFile(broken, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: keeping the torn tail: %w", err)
	}
	_, err = bf.Write(data[good:])
	if err == nil {
		err = bf.Sync()
	}
	if cerr := bf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit log: keeping the torn tail in %s: %w", broken, err)
	}
	f, err := l.o.FS.OpenFile(path, os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	err = f.Truncate(int64(good))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("audit log: truncating the torn tail of %s: %w", path, err)
	}
	l.o.FS.SyncDir(l.o.Dir)
	l.metrics.tornBytes.Add(float64(len(data) - good))
	l.o.Logger.Warn("audit log: torn tail truncated (a write cut short by a crash); the bytes are kept aside",
		"segment", filepath.Base(path), "offset", good, "bytes", len(data)-good, "kept_in", broken)
	return nil
}
