package vm

import (
	"crypto/sha256"
	bin "encoding/binary"
)

// SealForTest encodes p as an artifact without the checks MarshalBinary
// makes, so tests can build well-formed artifacts holding bad programs.
func SealForTest(p *Program) []byte {
	w := &writer{}
	encodeBody(w, p)
	encodeLookups(w, p)
	return SealBodyForTest(w.buf)
}

// SealBodyForTest wraps a raw body in a valid header and checksum.
func SealBodyForTest(body []byte) []byte {
	data := make([]byte, headerLen, headerLen+len(body)+checksumLen)
	copy(data, ArtifactMagic)
	bin.LittleEndian.PutUint16(data[4:], FormatVersion)
	bin.LittleEndian.PutUint32(data[6:], uint32(len(body)))
	data = append(data, body...)
	sum := sha256.Sum256(data)
	return append(data, sum[:]...)
}
