package audit

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/riskforge/riskforge/internal/gm"
)

// Checkpoint is a signed statement of the log's durable state: Count
// records were written, the last with hash Head, ending at Offset in the
// segment SegSeq (whose first record is SegFirst).
type Checkpoint struct {
	SegSeq, SegFirst uint64
	Offset           uint64
	Count            uint64
	Head             Hash
	Time             time.Time
	KeyID            string // hex id of the signing key (gm.KeyID)
	Sig              []byte // SM2 over the encoded fields, explicit UID
}

// Checkpoint payload: version (1), SegSeq, SegFirst, Offset, Count (u64
// little endian), Head (32), time (Unix ns, i64), key id (8), signature
// length (u8), signature (DER).
const (
	ckptVersion = 1
	ckptFixed   = 1 + 8*4 + 32 + 8 + 8
	ckptDomain  = "riskforge audit checkpoint v1\x00"
)

func (c *Checkpoint) signed() ([]byte, error) {
	id, err := hex.DecodeString(c.KeyID)
	if err != nil || len(id) != 8 {
		return nil, fmt.Errorf("bad checkpoint key id %q", c.KeyID)
	}
	b := make([]byte, 0, ckptFixed+1+80)
	b = append(b, ckptVersion)
	for _, v := range []uint64{c.SegSeq, c.SegFirst, c.Offset, c.Count} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = append(b, c.Head[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Time.UnixNano()))
	b = append(b, id...)
	return b, nil
}

// Segment is the base name of the checkpoint's segment.
func (c *Checkpoint) Segment() string { return segmentName(c.SegSeq, c.SegFirst) }

// EncodeCheckpoint returns the payload of a signed checkpoint.
func EncodeCheckpoint(c *Checkpoint) ([]byte, error) {
	b, err := c.signed()
	if err != nil {
		return nil, err
	}
	if len(c.Sig) == 0 || len(c.Sig) > 255 {
		return nil, errors.New("checkpoint signature missing or too long")
	}
	b = append(b, byte(len(c.Sig)))
	return append(b, c.Sig...), nil
}

// DecodeCheckpoint decodes a checkpoint payload (not checking the
// signature: see Verify).
func DecodeCheckpoint(p []byte) (*Checkpoint, error) {
	if len(p) < ckptFixed+1 {
		return nil, fmt.Errorf("checkpoint of %d bytes is too short", len(p))
	}
	if p[0] != ckptVersion {
		return nil, fmt.Errorf("unknown checkpoint version %d", p[0])
	}
	c := &Checkpoint{}
	off := 1
	for _, v := range []*uint64{&c.SegSeq, &c.SegFirst, &c.Offset, &c.Count} {
		*v = binary.LittleEndian.Uint64(p[off:])
		off += 8
	}
	copy(c.Head[:], p[off:])
	off += 32
	c.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(p[off:]))).UTC()
	off += 8
	c.KeyID = hex.EncodeToString(p[off : off+8])
	off += 8
	n := int(p[off])
	off++
	if n == 0 || len(p) != off+n {
		return nil, fmt.Errorf("checkpoint signature length %d does not match the %d bytes left", n, len(p)-off)
	}
	c.Sig = append([]byte(nil), p[off:]...)
	return c, nil
}

// SignCheckpoint signs c with key (setting KeyID and Sig).
func SignCheckpoint(c *Checkpoint, key *gm.PrivateKey) error {
	c.KeyID = gm.KeyID(&key.PublicKey)
	msg, err := c.signed()
	if err != nil {
		return err
	}
	c.Sig, err = gm.Sign(key, append([]byte(ckptDomain), msg...))
	return err
}

// VerifyCheckpoint checks c's signature with pub.
func VerifyCheckpoint(c *Checkpoint, pub *gm.PublicKey) error {
	if id := gm.KeyID(pub); id != c.KeyID {
		return fmt.Errorf("signed by key %s, not by the given key %s", c.KeyID, id)
	}
	msg, err := c.signed()
	if err != nil {
		return err
	}
	if !gm.Verify(pub, append([]byte(ckptDomain), msg...), c.Sig) {
		return gm.ErrBadSignature
	}
	return nil
}

// openCheckpoints recovers the checkpoint file's tail and opens it for
// appending; it also writes the public key beside the log.
func (l *Log) openCheckpoints() error {
	path := filepath.Join(l.o.Dir, checkpointLog)
	data, err := l.o.FS.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit log: %w", err)
	}
	off := 0
	for off < len(data) {
		p, size, ferr := readFrame(data[off:])
		if ferr == nil {
			if _, derr := DecodeCheckpoint(p); derr != nil {
				return fmt.Errorf("audit log damaged: %s offset %d: checkpoint does not decode: %v", path, off, derr)
			}
			off += size
			continue
		}
		if after := validFrameAfter(data, off+8); after >= 0 {
			return fmt.Errorf("audit log damaged: %s offset %d: %v (a valid checkpoint follows at offset %d); riskd will not start", path, off, ferr, after)
		}
		seg := Segment{Name: checkpointLog}
		if err := l.truncateTail(seg, data, off); err != nil {
			return err
		}
		break
	}
	f, err := l.o.FS.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	l.ckpt = f
	pub, err := gm.MarshalPublicKeyPEM(&l.o.SigningKey.PublicKey)
	if err != nil {
		return err
	}
	pf, err := l.o.FS.OpenFile(filepath.Join(l.o.Dir, PublicKeyFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	_, err = pf.Write(pub)
	if cerr := pf.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkpointer writes a checkpoint every interval when records were added.
func (l *Log) checkpointer() {
	defer l.wg.Done()
	t := time.NewTicker(l.o.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if l.Err() != nil {
				return
			}
			if err := l.writeCheckpoint(); err != nil {
				l.markFailed(err)
				return
			}
		}
	}
}

// writeCheckpoint signs and appends the durable state when it moved.
func (l *Log) writeCheckpoint() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.dmu.Lock()
	c := l.durable
	l.dmu.Unlock()
	if c.Count == l.lastCkpt {
		return nil
	}
	c.Time = l.o.Now().UTC()
	if err := SignCheckpoint(&c, l.o.SigningKey); err != nil {
		return fmt.Errorf("signing a checkpoint: %w", err)
	}
	p, err := EncodeCheckpoint(&c)
	if err != nil {
		return err
	}
	if _, err := l.ckpt.Write(appendFrame(nil, p)); err != nil {
		return fmt.Errorf("write %s: %w", l.dirName(checkpointLog), err)
	}
	if l.o.Sync != SyncNone {
		if err := l.ckpt.Sync(); err != nil {
			return fmt.Errorf("fdatasync %s: %w", l.dirName(checkpointLog), err)
		}
	}
	l.lastCkpt = c.Count
	l.metrics.checkpoints.Inc()
	return nil
}
