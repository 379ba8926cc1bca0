package models

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// sklearn-onnx ends classifiers with a ZipMap node, which turns the
// probability tensor [N, classes] into a sequence of {class: probability}
// maps. Reading maps through onnxruntime_go costs a dozen cgo calls and
// allocations per row, so when the declared output is a ZipMap's output
// the registry adds the ZipMap's input tensor to the graph's outputs (in
// memory; the file and its digest are untouched) and reads the column of
// the declared class from it. Load checks on rows of zeros that both
// give the same value, and keeps the map path otherwise.

// zipMap describes the ZipMap node producing an output.
type zipMap struct {
	input   string   // the probability tensor it reads
	ints    []int64  // classlabels_int64s, in column order
	strings []string // classlabels_strings, in column order
}

// column returns the tensor column holding the class the declared index
// selects: the class label itself for int64 labels, the index-th label in
// key (sorted) order for string labels, as in the map.
func (z *zipMap) column(index int) (int, bool) {
	if z.ints != nil {
		j := slices.Index(z.ints, int64(index))
		return j, j >= 0
	}
	if index >= len(z.strings) {
		return 0, false
	}
	sorted := slices.Clone(z.strings)
	slices.Sort(sorted)
	return slices.Index(z.strings, sorted[index]), true
}

// ONNX protobuf field numbers (onnx.proto).
const (
	modelGraph     = 7  // ModelProto.graph
	graphNode      = 1  // GraphProto.node
	graphOutput    = 12 // GraphProto.output
	nodeInput      = 1  // NodeProto.input
	nodeOutput     = 2  // NodeProto.output
	nodeOpType     = 4  // NodeProto.op_type
	nodeAttribute  = 5  // NodeProto.attribute
	nodeDomain     = 7  // NodeProto.domain
	graphInput     = 11 // GraphProto.input
	attrName       = 1  // AttributeProto.name
	attrF          = 2  // AttributeProto.f
	attrI          = 3  // AttributeProto.i
	attrS          = 4  // AttributeProto.s
	attrT          = 5  // AttributeProto.t
	attrFloats     = 7  // AttributeProto.floats
	attrInts       = 8  // AttributeProto.ints
	attrStrings    = 9  // AttributeProto.strings
	valueInfoName  = 1  // ValueInfoProto.name
	valueInfoType  = 2  // ValueInfoProto.type
	typeTensor     = 1  // TypeProto.tensor_type
	tensorElemType = 1  // TypeProto.Tensor.elem_type
	elemFloat      = 1  // TensorProto.FLOAT
)

// fields calls fn for every field of a protobuf message; false when the
// message is malformed or fn says stop.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, raw []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		var v []byte
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(b[n:])
		}
		if !fn(num, typ, v, b[:n+m]) {
			return false
		}
		b = b[n+m:]
	}
	return true
}

// graphOf returns the GraphProto of a ModelProto; false when there is
// none or the model is malformed.
func graphOf(model []byte) ([]byte, bool) {
	var graph []byte
	ok := fields(model, func(num protowire.Number, typ protowire.Type, v, _ []byte) bool {
		if num == modelGraph && typ == protowire.BytesType {
			graph = v
		}
		return true
	})
	return graph, ok && graph != nil
}

// findZipMap returns the ZipMap node of the model whose output is output.
func findZipMap(model []byte, output string) (*zipMap, bool) {
	nodes, _, err := decodeGraph(model)
	if err != nil {
		return nil, false
	}
	for _, n := range nodes {
		if n.op != "ZipMap" || n.domain != "ai.onnx.ml" || len(n.inputs) != 1 || len(n.outputs) != 1 || n.outputs[0] != output {
			continue
		}
		z := &zipMap{input: n.inputs[0]}
		if a := n.attrs["classlabels_int64s"]; a != nil {
			z.ints = a.ints
		}
		if a := n.attrs["classlabels_strings"]; a != nil {
			z.strings = a.strings
		}
		if (z.ints == nil) != (z.strings == nil) {
			return z, true
		}
	}
	return nil, false
}

// withOutput returns a copy of the model with a float tensor output named
// name appended to its graph's outputs.
func withOutput(model []byte, name string) ([]byte, bool) {
	var tensorType []byte
	tensorType = protowire.AppendTag(tensorType, tensorElemType, protowire.VarintType)
	tensorType = protowire.AppendVarint(tensorType, elemFloat)
	var typ []byte
	typ = protowire.AppendTag(typ, typeTensor, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tensorType)
	var vi []byte
	vi = protowire.AppendTag(vi, valueInfoName, protowire.BytesType)
	vi = protowire.AppendString(vi, name)
	vi = protowire.AppendTag(vi, valueInfoType, protowire.BytesType)
	vi = protowire.AppendBytes(vi, typ)

	out := make([]byte, 0, len(model)+len(vi)+16)
	done := false
	ok := fields(model, func(num protowire.Number, typ protowire.Type, v, raw []byte) bool {
		if num == modelGraph && typ == protowire.BytesType && !done {
			graph := append(slices.Clip(v), protowire.AppendTag(nil, graphOutput, protowire.BytesType)...)
			graph = protowire.AppendBytes(graph, vi)
			out = protowire.AppendTag(out, modelGraph, protowire.BytesType)
			out = protowire.AppendBytes(out, graph)
			done = true
			return true
		}
		out = append(out, raw...)
		return true
	})
	return out, ok && done
}
