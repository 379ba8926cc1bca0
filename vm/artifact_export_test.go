package vm

import (
	"crypto/sha256"
	bin "encoding/binary"
	"fmt"
)

// SealForTest encodes p as an artifact without the checks MarshalBinary
// makes, so tests can build well-formed artifacts holding bad programs.
func SealForTest(p *Program) []byte {
	w := &writer{}
	encodeBody(w, p)
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

// ArtifactSections names the artifact body's sections, in order.
func ArtifactSections() []string {
	names := make([]string, len(sections))
	for i, s := range sections {
		names[i] = s.name
	}
	return names
}

// SectionRoundTrip encodes section i of p alone, decodes those bytes
// alone into an empty program and encodes that again: enc and again are
// equal when the decoder reads back every field the encoder wrote. empty
// is the section's encoding for an empty program, so a test can tell that
// p exercises the section.
func SectionRoundTrip(p *Program, i int) (enc, again, empty []byte, err error) {
	s := sections[i]
	w := &writer{}
	s.encode(w, p)
	r := &reader{b: w.buf, section: s.name}
	q := &Program{}
	s.decode(r, q)
	if r.err != nil {
		return w.buf, nil, nil, r.err
	}
	if rest := len(r.b) - r.off; rest > 0 {
		return w.buf, nil, nil, fmt.Errorf("section %s: %d bytes not read", s.name, rest)
	}
	w2 := &writer{}
	s.encode(w2, q)
	w3 := &writer{}
	s.encode(w3, &Program{})
	return w.buf, w2.buf, w3.buf, nil
}
