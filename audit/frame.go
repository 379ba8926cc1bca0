package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A frame is: uint32 payload length (little endian), uint32 CRC-32C of
// the payload, the payload, zero padding to a multiple of 8 bytes.
const (
	frameHeader = 8
	// MaxRecord bounds a payload; a larger length field is damage.
	MaxRecord = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func padded(n int) int { return (n + 7) &^ 7 }

// frameSize is the bytes a payload of n bytes takes on disk.
func frameSize(n int) int { return frameHeader + padded(n) }

// appendFrame appends the frame of payload to b.
func appendFrame(b, payload []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	b = append(b, h[:]...)
	b = append(b, payload...)
	for range padded(len(payload)) - len(payload) {
		b = append(b, 0)
	}
	return b
}

// errShort means the data ends inside a frame.
var errShort = errors.New("the segment ends inside a record (torn write)")

// FrameError describes damaged framing.
type FrameError struct {
	Reason string
}

func (e *FrameError) Error() string { return e.Reason }

// readFrame decodes the frame at the start of b and returns its payload
// and size on disk.
func readFrame(b []byte) (payload []byte, size int, err error) {
	if len(b) < frameHeader {
		return nil, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b[:4])
	sum := binary.LittleEndian.Uint32(b[4:8])
	if n == 0 {
		return nil, 0, &FrameError{"zero record length"}
	}
	if n > MaxRecord {
		return nil, 0, &FrameError{fmt.Sprintf("record length %d exceeds the limit of %d", n, MaxRecord)}
	}
	size = frameSize(int(n))
	if len(b) < size {
		return nil, 0, errShort
	}
	payload = b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, 0, &FrameError{"CRC-32C mismatch"}
	}
	for _, p := range b[frameHeader+int(n) : size] {
		if p != 0 {
			return nil, 0, &FrameError{"non-zero padding"}
		}
	}
	return payload, size, nil
}

// validFrameAfter reports the offset of the first 8-aligned offset at or
// after from where a complete, CRC-valid frame starts, or -1. Recovery
// uses it to tell a torn tail (nothing valid follows) from damage in the
// middle of the log.
func validFrameAfter(b []byte, from int) int {
	for off := padded(from); off+frameHeader <= len(b); off += 8 {
		if _, _, err := readFrame(b[off:]); err == nil {
			return off
		}
	}
	return -1
}
