package audit

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/riskforge/riskforge/internal/gm"
)

// Record payload layout (all integers little endian):
//
//	0      version (2; version 1 records are still read)
//	1      flags: bit 0 = body sealed with SM4-GCM; version 2 adds
//	       bit 1 = a dictionary record (constants later records of its
//	       segment refer to) and bit 2 = the record refers to one
//	2..9   index (the record's position in the log, from 0)
//	10..17 time, Unix nanoseconds
//	18..49 prev: the hash of the previous record (zero for the first)
//	50     request id length n (1..128; 0 only for a dictionary record)
//	51..   request id (printable ASCII)
//	       when it refers to a dictionary: that record's index (8 bytes)
//	       when sealed: key id (8 bytes), nonce (12 bytes)
//	       body: bytes the writer chose (a decision, docs/AUDIT.md), or
//	       SM4-GCM ciphertext and tag with everything before the body as
//	       additional data
const (
	recordVersion1 = 1
	recordVersion  = 2
	flagSealed     = 1
	flagDict       = 2
	flagRef        = 4
	fixedHeader    = 51
	refSize        = 8
	keyIDSize      = 8
	nonceSize      = 12
	tagSize        = 16
	maxRequestID   = 128
)

// Hash is an SM3 digest.
type Hash [gm.HashSize]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// chain returns h_i = SM3(h_{i-1} || payload_i).
func chain(prev Hash, payload []byte) Hash { return Hash(gm.SM3(prev[:], payload)) }

// Envelope is a record's clear header.
type Envelope struct {
	// Version is the record format (1 or 2); 0 writes the current one.
	Version   byte
	Index     uint64
	Time      time.Time
	Prev      Hash
	RequestID string
	// IsDict marks a dictionary record: constants (a policy version's
	// rule names, reasons, model files) that records after it in the same
	// segment refer to instead of repeating them.
	IsDict bool
	// HasRef and Ref name the dictionary record this record refers to.
	HasRef bool
	Ref    uint64
	Sealed bool
	KeyID  [keyIDSize]byte
	Nonce  [nonceSize]byte
	// HeaderLen is where the body starts in the payload.
	HeaderLen int
}

// KeyIDString is the key id in hex ("" when the body is not sealed).
func (e *Envelope) KeyIDString() string {
	if !e.Sealed {
		return ""
	}
	return hex.EncodeToString(e.KeyID[:])
}

// headerLen is the size of the clear header of a version 2 record.
func headerLen(ridLen int, ref, sealed bool) int {
	n := fixedHeader + ridLen
	if ref {
		n += refSize
	}
	if sealed {
		n += keyIDSize + nonceSize
	}
	return n
}

// appendHeader appends the clear header of a record.
func appendHeader(b []byte, e *Envelope) []byte {
	v := e.Version
	if v == 0 {
		v = recordVersion
	}
	flags := byte(0)
	if e.Sealed {
		flags |= flagSealed
	}
	if e.IsDict {
		flags |= flagDict
	}
	if e.HasRef {
		flags |= flagRef
	}
	b = append(b, v, flags)
	b = binary.LittleEndian.AppendUint64(b, e.Index)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = append(b, e.Prev[:]...)
	b = append(b, byte(len(e.RequestID)))
	b = append(b, e.RequestID...)
	if e.HasRef {
		b = binary.LittleEndian.AppendUint64(b, e.Ref)
	}
	if e.Sealed {
		b = append(b, e.KeyID[:]...)
		b = append(b, e.Nonce[:]...)
	}
	return b
}

// RecordError is a payload that frames correctly but does not decode.
type RecordError struct{ Reason string }

func (e *RecordError) Error() string { return e.Reason }

// DecodeEnvelope decodes the clear header of a record payload and returns
// it with the body (as written, or sealed bytes).
func DecodeEnvelope(p []byte) (Envelope, []byte, error) {
	var e Envelope
	if len(p) < fixedHeader {
		return e, nil, &RecordError{fmt.Sprintf("record of %d bytes is shorter than its %d-byte header", len(p), fixedHeader)}
	}
	e.Version = p[0]
	known := byte(flagSealed | flagDict | flagRef)
	switch e.Version {
	case recordVersion1:
		known = flagSealed
	case recordVersion:
	default:
		return e, nil, &RecordError{fmt.Sprintf("unknown record version %d", p[0])}
	}
	if p[1]&^known != 0 {
		return e, nil, &RecordError{fmt.Sprintf("unknown record flags %#x", p[1])}
	}
	e.Sealed = p[1]&flagSealed != 0
	e.IsDict = p[1]&flagDict != 0
	e.HasRef = p[1]&flagRef != 0
	if e.IsDict && e.HasRef {
		return e, nil, &RecordError{"a dictionary record cannot refer to a dictionary"}
	}
	e.Index = binary.LittleEndian.Uint64(p[2:10])
	e.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(p[10:18]))).UTC()
	copy(e.Prev[:], p[18:50])
	n := int(p[50])
	off := fixedHeader
	if (n == 0 && !e.IsDict) || n > maxRequestID || len(p) < off+n {
		return e, nil, &RecordError{fmt.Sprintf("bad request id length %d", n)}
	}
	id := p[off : off+n]
	if !printable(id) {
		return e, nil, &RecordError{"request id is not printable ASCII"}
	}
	e.RequestID = string(id)
	off += n
	if e.HasRef {
		if len(p) < off+refSize {
			return e, nil, &RecordError{"record too short for its dictionary reference"}
		}
		e.Ref = binary.LittleEndian.Uint64(p[off:])
		if e.Ref >= e.Index {
			return e, nil, &RecordError{fmt.Sprintf("record %d refers to dictionary record %d, which does not come before it", e.Index, e.Ref)}
		}
		off += refSize
	}
	if e.Sealed {
		if len(p) < off+keyIDSize+nonceSize {
			return e, nil, &RecordError{"sealed record too short for its key id and nonce"}
		}
		copy(e.KeyID[:], p[off:])
		copy(e.Nonce[:], p[off+keyIDSize:])
		off += keyIDSize + nonceSize
	}
	e.HeaderLen = off
	body := p[off:]
	if len(body) == 0 {
		return e, nil, &RecordError{"empty record body"}
	}
	if e.Version == recordVersion1 && !e.Sealed && !utf8.Valid(body) {
		return e, nil, &RecordError{"record body is not UTF-8 JSON"}
	}
	return e, body, nil
}

func printable[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// Keyring holds SM4 keys by id: the newest seals, all of them open.
type Keyring struct {
	seal  *sealer
	byID  map[[keyIDSize]byte]*sealer
	order []string
}

type sealer struct {
	id   [keyIDSize]byte
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

// NewKeyring returns a keyring sealing with keys[0] and opening with any.
func NewKeyring(keys ...gm.SM4Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no SM4 key")
	}
	kr := &Keyring{byID: map[[keyIDSize]byte]*sealer{}}
	for _, k := range keys {
		aead, err := gm.NewSM4GCM(k.Key)
		if err != nil {
			return nil, err
		}
		raw, err := hex.DecodeString(k.ID)
		if err != nil || len(raw) != keyIDSize {
			return nil, fmt.Errorf("bad SM4 key id %q", k.ID)
		}
		s := &sealer{aead: aead}
		copy(s.id[:], raw)
		if kr.seal == nil {
			kr.seal = s
		}
		kr.byID[s.id] = s
		kr.order = append(kr.order, k.ID)
	}
	return kr, nil
}

// Open decrypts a sealed body.
func (kr *Keyring) Open(e *Envelope, payload []byte) ([]byte, error) {
	s := kr.byID[e.KeyID]
	if s == nil {
		return nil, fmt.Errorf("record %d is sealed with key %s, which is not among the keys given (%v)", e.Index, e.KeyIDString(), kr.order)
	}
	body, err := s.aead.Open(nil, e.Nonce[:], payload[e.HeaderLen:], payload[:e.HeaderLen])
	if err != nil {
		return nil, fmt.Errorf("record %d does not open with key %s: %v", e.Index, e.KeyIDString(), err)
	}
	return body, nil
}
