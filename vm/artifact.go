package vm

import (
	"bytes"
	"crypto/sha256"
	bin "encoding/binary"
	"errors"
	"fmt"
	"math"
)

// FormatVersion is the version of the binary artifact format that
// MarshalBinary writes and Decode reads. It changes whenever the layout
// or the meaning of the bytecode changes.
const FormatVersion = 3

// ArtifactMagic opens every Riskforge artifact (a .rbc file).
const ArtifactMagic = "RFBC"

// The artifact layout:
//
//	magic    4 bytes  "RFBC"
//	version  uint16   little endian, FormatVersion
//	length   uint32   little endian, length of the body
//	body     the Program, section by section (see sections)
//	checksum 32 bytes SHA-256 of everything before it
//
// In the body, counts, lengths and unsigned numbers are uvarints, signed
// numbers are varints, floats are the 8 little-endian bytes of their IEEE
// 754 bits, booleans and enumerations are one byte, and digests are 32
// raw bytes.
const (
	headerLen   = len(ArtifactMagic) + 2 + 4
	checksumLen = sha256.Size
)

// MarshalBinary encodes p as a versioned binary artifact that Decode
// reads back. It checks its own output by decoding it, so a program that
// would not load (one that fails verification) is an error here rather
// than an artifact that cannot be used. p is only read: MarshalBinary is
// safe to call on a program that is in use.
func (p *Program) MarshalBinary() ([]byte, error) {
	w := &writer{buf: make([]byte, headerLen, headerLen+len(p.Source)+64*len(p.Code)+1024)}
	copy(w.buf, ArtifactMagic)
	bin.LittleEndian.PutUint16(w.buf[4:], FormatVersion)
	encodeBody(w, p)
	body := len(w.buf) - headerLen
	if body > math.MaxUint32 {
		return nil, fmt.Errorf("artifact: program too large (%d bytes)", body)
	}
	bin.LittleEndian.PutUint32(w.buf[6:], uint32(body))
	sum := sha256.Sum256(w.buf)
	data := append(w.buf, sum[:]...)
	if _, err := Decode(data); err != nil {
		return nil, fmt.Errorf("cannot write an artifact that does not load: %w", err)
	}
	return data, nil
}

// Decode reads an artifact written by MarshalBinary and returns the
// verified, prepared program. Every problem — a file that is not an
// artifact, another format version, truncation, corruption, a program the
// verifier rejects — is an error starting with "artifact:"; Decode never
// panics, whatever the input.
func Decode(data []byte) (*Program, error) {
	if len(data) < len(ArtifactMagic) {
		if bytes.HasPrefix([]byte(ArtifactMagic), data) {
			return nil, fmt.Errorf("artifact: truncated (%d bytes, too short for the header)", len(data))
		}
		return nil, errors.New("artifact: bad magic (not a Riskforge artifact)")
	}
	if string(data[:len(ArtifactMagic)]) != ArtifactMagic {
		return nil, errors.New("artifact: bad magic (not a Riskforge artifact)")
	}
	if len(data) < headerLen {
		return nil, fmt.Errorf("artifact: truncated (%d bytes, too short for the header)", len(data))
	}
	version := bin.LittleEndian.Uint16(data[4:])
	if version != FormatVersion {
		return nil, fmt.Errorf("artifact: format version %d is not supported (this build reads version %d)", version, FormatVersion)
	}
	bodyLen := uint64(bin.LittleEndian.Uint32(data[6:]))
	total := uint64(headerLen) + bodyLen + checksumLen
	switch {
	case uint64(len(data)) < total:
		return nil, fmt.Errorf("artifact: truncated (file has %d bytes, its header says %d)", len(data), total)
	case uint64(len(data)) > total:
		return nil, fmt.Errorf("artifact: %d unexpected bytes after the end (file has %d bytes, its header says %d)", uint64(len(data))-total, len(data), total)
	}
	end := headerLen + int(bodyLen)
	if sum := sha256.Sum256(data[:end]); !bytes.Equal(sum[:], data[end:]) {
		return nil, errors.New("artifact: checksum mismatch (file is corrupted)")
	}
	p, err := decodeBody(data[headerLen:end])
	if err != nil {
		return nil, err
	}
	if err := checkDecoded(p); err != nil {
		return nil, err
	}
	if err := p.Prepare(); err != nil {
		return nil, fmt.Errorf("artifact: invalid program: %w", err)
	}
	return p, nil
}

// section is one part of the artifact body: its name (which decode
// errors quote) and the pair that writes and reads it. The body is the
// sections in table order, with no framing between them.
type section struct {
	name   string
	encode func(w *writer, p *Program)
	decode func(r *reader, p *Program)
}

// sections is the body layout. Changing it (order, or what a section
// writes) changes the format: bump FormatVersion.
var sections = []section{
	{"header", encodeHeader, decodeHeader},
	{"events", encodeEvents, decodeEvents},
	{"inputs", encodeInputs, decodeInputs},
	{"slot counts", encodeSlotCounts, decodeSlotCounts},
	{"params", encodeParams, decodeParams},
	{"constants", encodeConstants, decodeConstants},
	{"lists", encodeLists, decodeLists},
	{"models", encodeModels, decodeModels},
	{"windows", encodeWindows, decodeWindows},
	{"rules", encodeRules, decodeRules},
	{"decide", encodeDecide, decodeDecide},
	{"time slot", encodeTimeSlot, decodeTimeSlot},
	{"code", encodeCode, decodeCode},
	{"line table", encodeLines, decodeLines},
	{"lookups", encodeLookups, decodeLookups},
}

// encodeBody writes every section of p, in the order decodeBody reads them.
func encodeBody(w *writer, p *Program) {
	for _, s := range sections {
		s.encode(w, p)
	}
}

// decodeBody reads what encodeBody wrote. Empty slices come back nil.
func decodeBody(body []byte) (*Program, error) {
	r := &reader{b: body}
	p := &Program{}
	for _, s := range sections {
		r.section = s.name
		s.decode(r, p)
	}
	if r.err != nil {
		return nil, r.err
	}
	if rest := len(r.b) - r.off; rest > 0 {
		return nil, fmt.Errorf("artifact: %d unexpected bytes after the last section", rest)
	}
	return p, nil
}

func encodeHeader(w *writer, p *Program) {
	w.str(p.Name)
	w.str(p.Version)
	w.str(p.SourcePath)
	w.str(p.Source)
	w.digest(p.SourceSHA256)
}

func decodeHeader(r *reader, p *Program) {
	p.Name = r.str()
	p.Version = r.str()
	p.SourcePath = r.str()
	p.Source = r.str()
	p.SourceSHA256 = r.digest()
}

func encodeEvents(w *writer, p *Program) {
	w.strs(p.Events)
	w.bool(p.EventsDeclared)
}

func decodeEvents(r *reader, p *Program) {
	p.Events = readSlice(r, 1, r.str)
	p.EventsDeclared = r.bool()
}

func encodeInputs(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Inputs)))
	for _, in := range p.Inputs {
		w.str(in.Name)
		w.byte(byte(in.Type))
		w.u32(in.Slot)
		w.bool(in.Optional)
		w.bool(in.Default != nil)
		if in.Default != nil {
			w.f64(in.Default.Num)
			w.str(in.Default.Str)
		}
		w.f64(in.Min)
		w.f64(in.Max)
		w.bool(in.MinOpen)
		w.bool(in.MaxOpen)
	}
}

func decodeInputs(r *reader, p *Program) {
	n := r.count(23) // name, type, slot, 2 flags, min, max, 2 flags
	if n == 0 {
		return
	}
	p.Inputs = make([]Input, n)
	for i := range p.Inputs {
		in := &p.Inputs[i]
		in.Name = r.str()
		in.Type = Type(r.byte())
		in.Slot = r.u32()
		in.Optional = r.bool()
		if r.bool() {
			in.Default = &Value{Num: r.f64(), Str: r.str()}
		}
		in.Min = r.f64()
		in.Max = r.f64()
		in.MinOpen = r.bool()
		in.MaxOpen = r.bool()
	}
}

func encodeSlotCounts(w *writer, p *Program) {
	w.u32(p.NumSlots)
	w.u32(p.StrSlots)
}

func decodeSlotCounts(r *reader, p *Program) {
	p.NumSlots = r.u32()
	p.StrSlots = r.u32()
}

func encodeParams(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Params)))
	for _, prm := range p.Params {
		w.str(prm.Name)
		w.byte(byte(prm.Kind))
		w.f64(prm.Value)
		w.bool(prm.IsInt)
		w.str(prm.Unit)
		w.i32(prm.Line)
		w.i32(prm.Col)
		w.i32(prm.Off)
		w.i32(prm.End)
	}
}

func decodeParams(r *reader, p *Program) {
	n := r.count(16) // name, kind, value, flag, unit, 4 positions
	if n == 0 {
		return
	}
	p.Params = make([]Param, n)
	for i := range p.Params {
		prm := &p.Params[i]
		prm.Name = r.str()
		if prm.Kind = ParamKind(r.byte()); prm.Kind > Cutoff && r.err == nil {
			r.fail("param %q has unknown kind %d", prm.Name, prm.Kind)
		}
		prm.Value = r.f64()
		prm.IsInt = r.bool()
		prm.Unit = r.str()
		prm.Line = r.i32()
		prm.Col = r.i32()
		prm.Off = r.i32()
		prm.End = r.i32()
	}
}

func encodeConstants(w *writer, p *Program) {
	w.f64s(p.NumConsts)
	w.strs(p.StrConsts)
}

func decodeConstants(r *reader, p *Program) {
	p.NumConsts = readSlice(r, 8, r.f64)
	p.StrConsts = readSlice(r, 1, r.str)
}

func encodeLists(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Lists)))
	for _, l := range p.Lists {
		w.str(l.Name)
		w.str(l.Path)
		w.digest(l.Digest)
		w.bool(l.IsNum)
		w.strs(l.Strings)
		w.f64s(l.Nums)
	}
}

func decodeLists(r *reader, p *Program) {
	n := r.count(37) // name, path, digest, flag, 2 counts
	if n == 0 {
		return
	}
	p.Lists = make([]List, n)
	for i := range p.Lists {
		l := &p.Lists[i]
		l.Name = r.str()
		l.Path = r.str()
		l.Digest = r.digest()
		l.IsNum = r.bool()
		l.Strings = readSlice(r, 1, r.str)
		l.Nums = readSlice(r, 8, r.f64)
	}
}

func encodeModels(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Models)))
	for _, m := range p.Models {
		w.str(m.Name)
		w.str(m.Path)
		w.digest(m.Digest)
		w.u32s(m.InputSlots)
		w.str(m.Output)
		w.u32(m.Index)
		w.f64(m.TimeoutSec)
		w.f64(m.OnError)
		w.u32(m.Slot)
	}
}

func decodeModels(r *reader, p *Program) {
	n := r.count(54) // name, path, digest, count, output, index, 2 floats, slot
	if n == 0 {
		return
	}
	p.Models = make([]Model, n)
	for i := range p.Models {
		m := &p.Models[i]
		m.Name = r.str()
		m.Path = r.str()
		m.Digest = r.digest()
		m.InputSlots = readSlice(r, 1, r.u32)
		m.Output = r.str()
		m.Index = r.u32()
		m.TimeoutSec = r.f64()
		m.OnError = r.f64()
		m.Slot = r.u32()
	}
}

func encodeWindows(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Windows)))
	for _, win := range p.Windows {
		w.str(win.Name)
		w.str(win.Agg)
		w.f64(win.OverSec)
		w.uvarint(uint64(len(win.Keys)))
		for _, k := range win.Keys {
			w.u32(k.Slot)
			w.bool(k.String)
		}
		w.u32s(win.Events)
		w.str(win.Where)
		w.u32(win.Slot)
	}
}

func decodeWindows(r *reader, p *Program) {
	n := r.count(15) // name, agg, float, count, slot, flag, count, where, slot
	if n == 0 {
		return
	}
	p.Windows = make([]Window, n)
	for i := range p.Windows {
		win := &p.Windows[i]
		win.Name = r.str()
		win.Agg = r.str()
		win.OverSec = r.f64()
		win.Keys = readSlice(r, 2, func() KeyPart { return KeyPart{Slot: r.u32(), String: r.bool()} })
		win.Events = readSlice(r, 1, r.u32)
		win.Where = r.str()
		win.Slot = r.u32()
	}
}

func encodeRules(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Rules)))
	for _, r := range p.Rules {
		w.str(r.Name)
		w.str(r.Reason)
		w.u32s(r.Events)
		w.byte(ruleKind(r))
		w.byte(byte(r.Action))
		w.i32(r.WeightParam)
		w.f64(r.Weight)
		w.u32(r.End)
		w.i32(r.Line)
	}
}

func decodeRules(r *reader, p *Program) {
	n := r.count(16) // name, reason, count, flag, action, param, weight, end, line
	if n == 0 {
		return
	}
	p.Rules = make([]Rule, n)
	for i := range p.Rules {
		rl := &p.Rules[i]
		rl.Name = r.str()
		rl.Reason = r.str()
		rl.Events = readSlice(r, 1, r.u32)
		switch k := r.byte(); k {
		case 0, 1, 2:
			rl.Forces, rl.AtLeast = k > 0, k == 2
		default:
			r.fail("invalid rule kind %d", k)
		}
		rl.Action = Action(r.byte())
		rl.WeightParam = r.i32()
		rl.Weight = r.f64()
		rl.End = r.u32()
		rl.Line = r.i32()
	}
}

func encodeDecide(w *writer, p *Program) {
	d := &p.Decide
	w.i32(d.BiasParam)
	w.f64(d.Bias)
	w.uvarint(uint64(len(d.Cuts)))
	for _, c := range d.Cuts {
		w.byte(byte(c.Action))
		w.bool(c.Inclusive)
		w.i32(c.Param)
		w.f64(c.Value)
	}
	w.byte(byte(d.Otherwise))
}

func decodeDecide(r *reader, p *Program) {
	d := &p.Decide
	d.BiasParam = r.i32()
	d.Bias = r.f64()
	if n := r.count(11); n > 0 { // action, flag, param, value
		d.Cuts = make([]Cut, n)
		for i := range d.Cuts {
			c := &d.Cuts[i]
			c.Action = Action(r.byte())
			c.Inclusive = r.bool()
			c.Param = r.i32()
			c.Value = r.f64()
		}
	}
	d.Otherwise = Action(r.byte())
}

func encodeTimeSlot(w *writer, p *Program) { w.i32(p.TimeSlot) }

func decodeTimeSlot(r *reader, p *Program) { p.TimeSlot = r.i32() }

func encodeCode(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Code)))
	for _, in := range p.Code {
		w.byte(byte(in.Op))
		w.u32(in.A)
	}
}

func decodeCode(r *reader, p *Program) {
	n := r.count(2)
	if n == 0 {
		return
	}
	p.Code = make([]Instr, n)
	for i := range p.Code {
		p.Code[i].Op = Opcode(r.byte())
		p.Code[i].A = r.u32()
	}
}

func encodeLines(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Lines)))
	for _, l := range p.Lines {
		w.i32(l)
	}
}

func decodeLines(r *reader, p *Program) {
	n := r.count(1)
	if n == 0 {
		return
	}
	p.Lines = make([]int32, n)
	for i := range p.Lines {
		p.Lines[i] = r.i32()
	}
}

// checkDecoded enforces what the format promises beyond the verifier:
// the embedded source matches its digest; the slot counts are no larger
// than the program can use (every slot belongs to an input, window or
// model, or is written by an instruction), so a corrupted count cannot
// make each Machine allocate gigabytes; and control flow only goes
// forward, which the compiler guarantees and which makes every
// evaluation terminate.
func checkDecoded(p *Program) error {
	if sha256.Sum256([]byte(p.Source)) != p.SourceSHA256 {
		return errors.New("artifact: the embedded source does not match its SHA-256")
	}
	if err := checkLookups(p); err != nil {
		return err
	}
	if slots := uint64(p.NumSlots) + uint64(p.StrSlots); slots > uint64(len(p.Inputs)+len(p.Windows)+len(p.Models)+len(p.Code)) {
		return fmt.Errorf("artifact: invalid program: %d slots is more than the program can use", slots)
	}
	n := uint32(len(p.Code))
	for i, r := range p.Rules {
		if r.End >= n {
			return fmt.Errorf("artifact: invalid program: rule %d (%q) ends past the last instruction", i, r.Name)
		}
	}
	for pc, in := range p.Code {
		target := in.A
		switch in.Op {
		case JMP, JF, JT, JFPOP:
		case RULE:
			if in.A >= uint32(len(p.Rules)) {
				continue // the verifier reports the operand
			}
			target = p.Rules[in.A].End
		default:
			continue
		}
		if target <= uint32(pc) {
			return fmt.Errorf("artifact: invalid program: pc %d (%s): backward jump to %d", pc, in.Op, target)
		}
	}
	return nil
}

// writer appends the artifact encoding of values to buf.
type writer struct{ buf []byte }

func (w *writer) byte(b byte)       { w.buf = append(w.buf, b) }
func (w *writer) uvarint(v uint64)  { w.buf = bin.AppendUvarint(w.buf, v) }
func (w *writer) u32(v uint32)      { w.uvarint(uint64(v)) }
func (w *writer) i32(v int32)       { w.buf = bin.AppendVarint(w.buf, int64(v)) }
func (w *writer) digest(d [32]byte) { w.buf = append(w.buf, d[:]...) }
func (w *writer) f64(v float64)     { w.buf = bin.LittleEndian.AppendUint64(w.buf, math.Float64bits(v)) }
func (w *writer) str(s string)      { w.uvarint(uint64(len(s))); w.buf = append(w.buf, s...) }

func (w *writer) strs(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

func (w *writer) f64s(xs []float64) {
	w.uvarint(uint64(len(xs)))
	for _, x := range xs {
		w.f64(x)
	}
}

func (w *writer) u32s(xs []uint32) {
	w.uvarint(uint64(len(xs)))
	for _, x := range xs {
		w.u32(x)
	}
}

// ruleKind is a rule's kind byte: 0 score, 1 forced action, 2 forced
// floor (emit at_least). Builds before floors read 0 and 1 only, so an
// artifact with a floor is refused by them rather than misread.
func ruleKind(r Rule) byte {
	switch {
	case r.Forces && r.AtLeast:
		return 2
	case r.Forces:
		return 1
	}
	return 0
}

func (w *writer) bool(b bool) {
	if b {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

// reader decodes the body. The first error sticks: later reads return
// zero values, so decoding code reads straight through and checks once.
// Every length and count is checked against the bytes that remain before
// anything is allocated.
type reader struct {
	b       []byte
	off     int
	section string // what is being read, for error messages
	err     error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("artifact: bad %s: %s", r.section, fmt.Sprintf(format, args...))
	}
}

func (r *reader) truncated() {
	if r.err == nil {
		r.err = fmt.Errorf("artifact: truncated while reading %s", r.section)
	}
}

// take returns the next n bytes, or nil after recording truncation.
func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.truncated()
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) bool() bool {
	switch b := r.byte(); b {
	case 0, 1:
		return b == 1
	default:
		r.fail("invalid boolean %d", b)
		return false
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := bin.Uvarint(r.b[r.off:])
	if n == 0 {
		r.truncated()
		return 0
	}
	if n < 0 {
		r.fail("number overflows 64 bits")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) u32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.fail("number %d out of range", v)
		return 0
	}
	return uint32(v)
}

func (r *reader) i32() int32 {
	if r.err != nil {
		return 0
	}
	v, n := bin.Varint(r.b[r.off:])
	if n == 0 {
		r.truncated()
		return 0
	}
	if n < 0 {
		r.fail("number overflows 64 bits")
		return 0
	}
	r.off += n
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("number %d out of range", v)
		return 0
	}
	return int32(v)
}

func (r *reader) f64() float64 {
	if b := r.take(8); b != nil {
		return math.Float64frombits(bin.LittleEndian.Uint64(b))
	}
	return 0
}

func (r *reader) digest() (d [32]byte) {
	copy(d[:], r.take(len(d)))
	return d
}

func (r *reader) str() string {
	return string(r.take(r.count(1)))
}

// count reads a length or element count. Each element takes at least
// minSize bytes, so a count larger than the remaining bytes allow is a
// truncated (or corrupted) artifact, reported before any allocation.
// readSlice reads a count and that many elements with read; each element
// takes at least minSize bytes, which bounds the count before allocating.
// An empty slice decodes as nil, as the encoder's zero value.
func readSlice[T any](r *reader, minSize int, read func() T) []T {
	n := r.count(minSize)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = read()
	}
	return out
}

func (r *reader) count(minSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64((len(r.b)-r.off)/minSize) {
		r.truncated()
		return 0
	}
	return int(v)
}
