package audit

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Segment files are named SEQ-FIRST.wal: the segment's sequence number
// and the index of its first record, both as 16 hex digits, so a
// directory listing sorts in log order.
const (
	segmentExt    = ".wal"
	checkpointLog = "checkpoints.log"
	lockFile      = "LOCK"
	// PublicKeyFile is where riskd writes the checkpoint public key.
	PublicKeyFile = "checkpoint.pub"
)

// Segment names one segment file.
type Segment struct {
	Seq, First uint64
	Name       string // base name
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentExt)
}

func parseSegment(name string) (Segment, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(base) != 33 || base[16] != '-' {
		return Segment{}, false
	}
	var s Segment
	if _, err := fmt.Sscanf(base, "%016x-%016x", &s.Seq, &s.First); err != nil {
		return Segment{}, false
	}
	if segmentName(s.Seq, s.First) != name {
		return Segment{}, false
	}
	s.Name = name
	return s, true
}

// listSegments returns the segments in dir in log order; files that look
// like segments but are out of sequence are an error.
func listSegments(fsys FS, dir string) ([]Segment, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []Segment
	for _, e := range ents {
		if s, ok := parseSegment(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].Seq < segs[j].Seq })
	for i := 1; i < len(segs); i++ {
		if segs[i].Seq != segs[i-1].Seq+1 {
			return nil, fmt.Errorf("audit log %s: segment %s follows %s: a segment is missing", dir, segs[i].Name, segs[i-1].Name)
		}
		if segs[i].First < segs[i-1].First {
			return nil, fmt.Errorf("audit log %s: segment %s starts before %s", dir, segs[i].Name, segs[i-1].Name)
		}
	}
	return segs, nil
}

func (s Segment) path(dir string) string { return filepath.Join(dir, s.Name) }
