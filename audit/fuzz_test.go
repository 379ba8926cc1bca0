package audit

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeRecord feeds arbitrary bytes to the frame reader and the
// record decoder: they must never panic, and what decodes must encode
// back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	e := Envelope{Index: 7, Time: time.Unix(1, 2), RequestID: "req-1"}
	f.Add(appendFrame(nil, append(appendHeader(nil, &e), `{"a":1}`...)))
	e.Sealed = true
	f.Add(appendFrame(nil, append(appendHeader(nil, &e), bytes.Repeat([]byte{9}, 30)...)))
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, size, err := readFrame(data)
		if err != nil {
			p = data
		} else if size > len(data) || size%8 != 0 {
			t.Fatalf("frame size %d of %d bytes", size, len(data))
		}
		env, body, err := DecodeEnvelope(p)
		if err != nil {
			return
		}
		again := append(appendHeader(nil, &env), body...)
		if !bytes.Equal(again, p) {
			t.Fatalf("record does not round-trip:\n%x\n%x", p, again)
		}
		if env.HeaderLen+len(body) != len(p) {
			t.Fatalf("header %d + body %d != %d", env.HeaderLen, len(body), len(p))
		}
	})
}

// FuzzDecodeCheckpoint: the checkpoint decoder never panics and what it
// accepts encodes back to the same bytes.
func FuzzDecodeCheckpoint(f *testing.F) {
	c := &Checkpoint{SegSeq: 1, Offset: 64, Count: 1, Time: time.Unix(5, 0)}
	if err := SignCheckpoint(c, testKey); err != nil {
		f.Fatal(err)
	}
	p, err := EncodeCheckpoint(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p)
	f.Add(p[:len(p)-1])
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCheckpoint(data)
		if err != nil {
			return
		}
		again, err := EncodeCheckpoint(c)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("checkpoint does not round-trip (%v):\n%x\n%x", err, data, again)
		}
		VerifyCheckpoint(c, &testKey.PublicKey) // must not panic
	})
}
