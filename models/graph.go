package models

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// TensorInfo describes one input or output of a model graph.
type TensorInfo struct {
	Name string `json:"name"`
	// Type is "tensor(float)", "tensor(int64)", ..., "sequence", "map".
	Type string `json:"type"`
	// Shape has -1 for a dynamic dimension; nil for non-tensors.
	Shape []int64 `json:"shape,omitempty"`
}

// String formats t as `name: tensor(float)[?,6]`.
func (t TensorInfo) String() string {
	if t.Shape == nil {
		return t.Name + ": " + t.Type
	}
	return t.Name + ": " + t.Type + shapeString(t.Shape)
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = strconv.FormatInt(d, 10)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func tensorInfo(io ort.InputOutputInfo) TensorInfo {
	t := TensorInfo{Name: io.Name}
	switch io.OrtValueType {
	case ort.ONNXTypeTensor:
		t.Type = "tensor(" + elemName(io.DataType) + ")"
		t.Shape = append([]int64{}, io.Dimensions...)
		for i := range t.Shape {
			if t.Shape[i] < 0 {
				t.Shape[i] = -1
			}
		}
	case ort.ONNXTypeSequence:
		t.Type = "sequence"
	case ort.ONNXTypeMap:
		t.Type = "map"
	default:
		t.Type = strings.ToLower(strings.TrimPrefix(io.OrtValueType.String(), "ONNX_TYPE_"))
	}
	return t
}

func elemName(t ort.TensorElementDataType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}

func names(ts []TensorInfo) string {
	n := make([]string, len(ts))
	for i, t := range ts {
		n[i] = t.Name
	}
	return strings.Join(n, ", ")
}

// outKind is how a model's selected output is read.
type outKind uint8

const (
	outFloat     outKind = iota + 1 // tensor(float)
	outDouble                       // tensor(double)
	outIntMap                       // sequence of map(int64, float): INDEX is the class label
	outStringMap                    // sequence of map(string, float): INDEX is the position of the class in key order
)

// shapeFacts are what the declaration check learns about a graph.
type shapeFacts struct {
	inName, outName string
	fixedBatch      bool // the input's batch dimension is 1: run rows one by one
	kind            outKind
}

// Errors of a declaration check carry the part of the declaration at fault.
const (
	fieldPath   = "path"
	fieldInputs = "inputs"
	fieldOutput = "output"
)

type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }

func (e *fieldError) Unwrap() error { return e.err }

// ferr formats an error (%w wraps) about one part of the declaration.
func ferr(field, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// checkGraph compares a declaration (features inputs, output name and
// index) with the graph's inputs and outputs, statically.
func checkGraph(ins, outs []TensorInfo, rawIns, rawOuts []ort.InputOutputInfo, features int, output string, index int) (shapeFacts, error) {
	var f shapeFacts
	if len(ins) != 1 {
		return f, ferr(fieldInputs, "the graph has %d inputs (%s); riskforge feeds one float tensor [N,%d] of the declared inputs in order", len(ins), names(ins), features)
	}
	in, raw := ins[0], rawIns[0]
	f.inName = in.Name
	if raw.OrtValueType != ort.ONNXTypeTensor || raw.DataType != ort.TensorElementDataTypeFloat {
		return f, ferr(fieldInputs, "input %q is %s; riskforge feeds tensor(float) (export the model with a float32 input)", in.Name, in.Type)
	}
	if len(in.Shape) != 2 {
		return f, ferr(fieldInputs, "input %q has shape %s; riskforge feeds [N,%d]: a row of the %d declared inputs per request", in.Name, shapeString(in.Shape), features, features)
	}
	if d := in.Shape[1]; d >= 0 && d != int64(features) {
		return f, ferr(fieldInputs, "input %q takes %d features (shape %s) but the declaration lists %d inputs", in.Name, d, shapeString(in.Shape), features)
	}
	switch d := in.Shape[0]; {
	case d == 1:
		f.fixedBatch = true
	case d >= 0:
		return f, ferr(fieldInputs, "input %q has a fixed batch size of %d (shape %s); export it with a dynamic first dimension, or 1", in.Name, d, shapeString(in.Shape))
	}
	k := slices.IndexFunc(outs, func(t TensorInfo) bool { return t.Name == output })
	if k < 0 {
		return f, ferr(fieldOutput, "output %q not in the graph (outputs: %s)", output, names(outs))
	}
	out, rawOut := outs[k], rawOuts[k]
	f.outName = out.Name
	switch rawOut.OrtValueType {
	case ort.ONNXTypeTensor:
		switch rawOut.DataType {
		case ort.TensorElementDataTypeFloat:
			f.kind = outFloat
		case ort.TensorElementDataTypeDouble:
			f.kind = outDouble
		default:
			return f, ferr(fieldOutput, "output %q is %s; riskforge reads tensor(float) or tensor(double) outputs, or sequences of probability maps", out.Name, out.Type)
		}
		if len(out.Shape) == 0 {
			return f, ferr(fieldOutput, "output %q is a scalar; riskforge needs a value per row ([N] or [N,K])", out.Name)
		}
		if w, ok := staticWidth(out.Shape); ok && int64(index) >= w {
			return f, ferr(fieldOutput, "output %q has %d value(s) per row (shape %s); index %d is out of range", out.Name, w, shapeString(out.Shape), index)
		}
	case ort.ONNXTypeSequence:
		f.kind = outIntMap // or outStringMap: the probe run tells
	default:
		return f, ferr(fieldOutput, "output %q is a %s; riskforge reads float or double tensors, or sequences of probability maps", out.Name, out.Type)
	}
	return f, nil
}

// staticWidth is the number of values per row of an output shape
// [N, d1, d2...] when every dimension after the first is known.
func staticWidth(shape []int64) (int64, bool) {
	w := int64(1)
	for _, d := range shape[1:] {
		if d < 0 {
			return 0, false
		}
		w *= d
	}
	return w, true
}

// selector reads the declared value of each row out of a model output.
type selector struct {
	kind  outKind
	width int   // values per row (tensors)
	col   int   // index within a row (tensors, string maps)
	key   int64 // class label (int maps)
}

var errShape = errors.New("unexpected output")

// read writes one value per row of v into out.
func (s *selector) read(v ort.Value, out []float64) error {
	rows := len(out)
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		data := t.GetData()
		if s.kind != outFloat || len(data) != rows*s.width {
			return fmt.Errorf("%w: tensor(float)%s for %d row(s)", errShape, shapeString(t.GetShape()), rows)
		}
		for r := range out {
			out[r] = float64(data[r*s.width+s.col])
		}
	case *ort.Tensor[float64]:
		data := t.GetData()
		if s.kind != outDouble || len(data) != rows*s.width {
			return fmt.Errorf("%w: tensor(double)%s for %d row(s)", errShape, shapeString(t.GetShape()), rows)
		}
		for r := range out {
			out[r] = data[r*s.width+s.col]
		}
	case *ort.Sequence:
		maps, _ := t.GetValues()
		if len(maps) != rows {
			return fmt.Errorf("%w: a sequence of %d maps for %d row(s)", errShape, len(maps), rows)
		}
		for r, mv := range maps {
			x, err := s.mapValue(mv)
			if err != nil {
				return err
			}
			out[r] = x
		}
	default:
		return fmt.Errorf("%w: %T", errShape, v)
	}
	return nil
}

func (s *selector) mapValue(v ort.Value) (float64, error) {
	m, ok := v.(*ort.Map)
	if !ok {
		return 0, fmt.Errorf("%w: a sequence of %T, not of maps", errShape, v)
	}
	keys, values, _ := m.GetKeysAndValues()
	j := -1
	switch k := keys.(type) {
	case *ort.Tensor[int64]:
		if s.kind != outIntMap {
			return 0, fmt.Errorf("%w: map with int64 keys", errShape)
		}
		j = slices.Index(k.GetData(), s.key)
	case *ort.StringTensor:
		if s.kind != outStringMap {
			return 0, fmt.Errorf("%w: map with string keys", errShape)
		}
		if s.col < int(k.GetShape().FlattenedSize()) {
			j = s.col
		}
	default:
		return 0, fmt.Errorf("%w: map keys of %T", errShape, keys)
	}
	if j < 0 {
		return 0, fmt.Errorf("%w: class %d missing from the map", errShape, s.key)
	}
	switch vt := values.(type) {
	case *ort.Tensor[float32]:
		if d := vt.GetData(); j < len(d) {
			return float64(d[j]), nil
		}
	case *ort.Tensor[float64]:
		if d := vt.GetData(); j < len(d) {
			return d[j], nil
		}
	default:
		return 0, fmt.Errorf("%w: map values of %T", errShape, values)
	}
	return 0, fmt.Errorf("%w: map with fewer values than keys", errShape)
}

// probe learns the selector from the output of a run on rows of zeros
// and checks the declared index against it.
func probe(v ort.Value, facts shapeFacts, rows, index int) (selector, error) {
	s := selector{kind: facts.kind}
	name := facts.outName
	switch t := v.(type) {
	case *ort.Tensor[float32], *ort.Tensor[float64]:
		shape := v.GetShape()
		n := shape.FlattenedSize()
		if len(shape) == 0 || shape[0] != int64(rows) || n%int64(rows) != 0 {
			return s, ferr(fieldOutput, "output %q has shape %s for %d row(s) of input; riskforge needs the rows first ([N] or [N,K])", name, shapeString(shape), rows)
		}
		s.width = int(n / int64(rows))
		if index >= s.width {
			return s, ferr(fieldOutput, "output %q has %d value(s) per row (shape %s); index %d is out of range", name, s.width, shapeString(shape), index)
		}
		s.col = index
	case *ort.Sequence:
		maps, _ := t.GetValues()
		if len(maps) != rows {
			return s, ferr(fieldOutput, "output %q is a sequence of %d item(s) for %d row(s); riskforge reads sequences with one probability map per row", name, len(maps), rows)
		}
		m, ok := maps[0].(*ort.Map)
		if !ok {
			return s, ferr(fieldOutput, "output %q is a sequence of %s, not of maps; riskforge reads float or double tensors, or sequences of probability maps", name, valueKind(maps[0]))
		}
		keys, values, _ := m.GetKeysAndValues()
		switch values.(type) {
		case *ort.Tensor[float32], *ort.Tensor[float64]:
		default:
			return s, ferr(fieldOutput, "output %q maps classes to %s; riskforge reads float or double probabilities", name, valueKind(values))
		}
		switch k := keys.(type) {
		case *ort.Tensor[int64]:
			s.kind, s.key = outIntMap, int64(index)
			if !slices.Contains(k.GetData(), s.key) {
				return s, ferr(fieldOutput, "output %q has no class %d (classes: %s); with a probability map the index is the class label", name, index, joinInts(k.GetData()))
			}
		case *ort.StringTensor:
			s.kind, s.col = outStringMap, index
			labels, _ := k.GetContents()
			if index >= len(labels) {
				return s, ferr(fieldOutput, "output %q has %d classes (%s, in key order); index %d is out of range", name, len(labels), strings.Join(labels, ", "), index)
			}
		default:
			return s, ferr(fieldOutput, "output %q maps %s keys; riskforge reads int64 or string class labels", name, valueKind(keys))
		}
	default:
		return s, ferr(fieldOutput, "output %q is a %s; riskforge reads float or double tensors, or sequences of probability maps", name, valueKind(v))
	}
	return s, nil
}

func valueKind(v ort.Value) string {
	if v.GetONNXType() == ort.ONNXTypeTensor {
		return "tensor(" + elemName(ort.TensorElementDataType(v.DataType())) + ")"
	}
	return strings.ToLower(strings.TrimPrefix(v.GetONNXType().String(), "ONNX_TYPE_"))
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ", ")
}
