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
//	0      version (1)
//	1      flags: bit 0 = body sealed with SM4-GCM
//	2..9   index (the record's position in the log, from 0)
//	10..17 time, Unix nanoseconds
//	18..49 prev: the hash of the previous record (zero for the first)
//	50     request id length n (1..128)
//	51..   request id (printable ASCII)
//	       when sealed: key id (8 bytes), nonce (12 bytes)
//	       body: JSON (docs/AUDIT.md), or SM4-GCM ciphertext and tag
//	       with everything before the body as additional data
const (
	recordVersion = 1
	flagSealed    = 1
	fixedHeader   = 51
	keyIDSize     = 8
	nonceSize     = 12
	maxRequestID  = 128
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
	Index     uint64
	Time      time.Time
	Prev      Hash
	RequestID string
	Sealed    bool
	KeyID     [keyIDSize]byte
	Nonce     [nonceSize]byte
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

// appendHeader appends the clear header of a record.
func appendHeader(b []byte, e *Envelope) []byte {
	flags := byte(0)
	if e.Sealed {
		flags |= flagSealed
	}
	b = append(b, recordVersion, flags)
	b = binary.LittleEndian.AppendUint64(b, e.Index)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = append(b, e.Prev[:]...)
	b = append(b, byte(len(e.RequestID)))
	b = append(b, e.RequestID...)
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
// it with the body (JSON, or sealed bytes).
func DecodeEnvelope(p []byte) (Envelope, []byte, error) {
	var e Envelope
	if len(p) < fixedHeader {
		return e, nil, &RecordError{fmt.Sprintf("record of %d bytes is shorter than its %d-byte header", len(p), fixedHeader)}
	}
	if p[0] != recordVersion {
		return e, nil, &RecordError{fmt.Sprintf("unknown record version %d", p[0])}
	}
	if p[1]&^flagSealed != 0 {
		return e, nil, &RecordError{fmt.Sprintf("unknown record flags %#x", p[1])}
	}
	e.Sealed = p[1]&flagSealed != 0
	e.Index = binary.LittleEndian.Uint64(p[2:10])
	e.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(p[10:18]))).UTC()
	copy(e.Prev[:], p[18:50])
	n := int(p[50])
	off := fixedHeader
	if n == 0 || n > maxRequestID || len(p) < off+n {
		return e, nil, &RecordError{fmt.Sprintf("bad request id length %d", n)}
	}
	id := p[off : off+n]
	if !printable(id) {
		return e, nil, &RecordError{"request id is not printable ASCII"}
	}
	e.RequestID = string(id)
	off += n
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
	if !e.Sealed && !utf8.Valid(body) {
		return e, nil, &RecordError{"record body is not UTF-8 JSON"}
	}
	return e, body, nil
}

func printable(b []byte) bool {
	for _, c := range b {
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
