package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protowire"
)

// linearModel is a logistic model, sigmoid(x·W + b), written as an ONNX
// graph MatMul → Add → Sigmoid with one float input "features" [N, F] and
// one output "probability" [N, 1]: the shape riskforge feeds and reads
// (docs/MODELS.md §1).
type linearModel struct {
	file    string
	name    string
	doc     string
	weights []float32 // one per feature, in the order of the policy's inputs [...]
	bias    float32
}

// pipelineModels are the second and third models of
// examples/loan_pipeline. Their weights are set by hand, not trained:
// the example is about a serial pipeline (each model reads the one
// before) and its cost, and the weights only have to give plausible,
// monotone risks that the policy's rules can split.
var pipelineModels = []linearModel{
	{
		file: "loan_loss.onnx", name: "loan_loss",
		doc: "share of the principal lost on default, from [P(default) of loan_gbt, debt-to-income, term in months]; hand-set weights",
		// z = -2 + 3·pd + 1.5·dti + 0.01·term
		weights: []float32{3, 1.5, 0.01}, bias: -2,
	},
	{
		file: "loan_stack.onnx", name: "loan_stack",
		doc: "overall risk, from [P(default) of loan_gbt, loss share of loan_loss, users on the device in 7 days, applications in 1 hour]; hand-set weights",
		// z = -3 + 4·pd + 2·loss + 0.5·users + 0.4·applications
		weights: []float32{4, 2, 0.5, 0.4}, bias: -3,
	},
}

// pipelineModelsCmd writes pipelineModels into dir. There is no Python
// here: the graphs are three nodes, so they are encoded directly with
// protowire (field numbers of onnx.proto, IR version 8, opset 13). The
// output is deterministic.
func pipelineModelsCmd(dir string) error {
	for _, m := range pipelineModels {
		path := filepath.Join(dir, m.file)
		if err := os.WriteFile(path, m.encode(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	}
	return nil
}

// onnx.proto field numbers used below.
const (
	modelIRVersion   = 1
	modelProducer    = 2
	modelGraph       = 7
	modelOpsetImport = 8
	modelDoc         = 6
	opsetVersion     = 2
	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12
	nodeInput        = 1
	nodeOutput       = 2
	nodeName         = 3
	nodeOpType       = 4
	tensorDims       = 1
	tensorDataType   = 2
	tensorName       = 8
	tensorRawData    = 9
	valueName        = 1
	valueType        = 2
	typeTensor       = 1
	tensorElemType   = 1
	tensorShape      = 2
	shapeDim         = 1
	dimValue         = 1
	dimParam         = 2
	onnxFloat        = 1 // TensorProto.FLOAT
)

func (m linearModel) encode() []byte {
	f := len(m.weights)
	var g []byte
	g = protowire.AppendTag(g, graphNode, protowire.BytesType)
	g = protowire.AppendBytes(g, node("matmul", "MatMul", []string{"features", "W"}, "xw"))
	g = protowire.AppendTag(g, graphNode, protowire.BytesType)
	g = protowire.AppendBytes(g, node("add", "Add", []string{"xw", "b"}, "z"))
	g = protowire.AppendTag(g, graphNode, protowire.BytesType)
	g = protowire.AppendBytes(g, node("sigmoid", "Sigmoid", []string{"z"}, "probability"))
	g = protowire.AppendTag(g, graphName, protowire.BytesType)
	g = protowire.AppendString(g, m.name)
	g = protowire.AppendTag(g, graphInitializer, protowire.BytesType)
	g = protowire.AppendBytes(g, floatTensor("W", []int64{int64(f), 1}, m.weights))
	g = protowire.AppendTag(g, graphInitializer, protowire.BytesType)
	g = protowire.AppendBytes(g, floatTensor("b", []int64{1}, []float32{m.bias}))
	g = protowire.AppendTag(g, graphInput, protowire.BytesType)
	g = protowire.AppendBytes(g, valueInfo("features", "N", int64(f)))
	g = protowire.AppendTag(g, graphOutput, protowire.BytesType)
	g = protowire.AppendBytes(g, valueInfo("probability", "N", 1))

	var opset []byte
	opset = protowire.AppendTag(opset, opsetVersion, protowire.VarintType)
	opset = protowire.AppendVarint(opset, 13)

	var b []byte
	b = protowire.AppendTag(b, modelIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, 8)
	b = protowire.AppendTag(b, modelProducer, protowire.BytesType)
	b = protowire.AppendString(b, "riskforge examples/gen")
	b = protowire.AppendTag(b, modelDoc, protowire.BytesType)
	b = protowire.AppendString(b, m.doc)
	b = protowire.AppendTag(b, modelGraph, protowire.BytesType)
	b = protowire.AppendBytes(b, g)
	b = protowire.AppendTag(b, modelOpsetImport, protowire.BytesType)
	b = protowire.AppendBytes(b, opset)
	return b
}

func node(name, op string, inputs []string, output string) []byte {
	var b []byte
	for _, in := range inputs {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	b = protowire.AppendTag(b, nodeOutput, protowire.BytesType)
	b = protowire.AppendString(b, output)
	b = protowire.AppendTag(b, nodeName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, nodeOpType, protowire.BytesType)
	b = protowire.AppendString(b, op)
	return b
}

func floatTensor(name string, dims []int64, vals []float32) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, onnxFloat)
	b = protowire.AppendTag(b, tensorName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b
}

// valueInfo is a float tensor [rows, cols] with a symbolic row count.
func valueInfo(name, rows string, cols int64) []byte {
	var d0, d1 []byte
	d0 = protowire.AppendTag(d0, dimParam, protowire.BytesType)
	d0 = protowire.AppendString(d0, rows)
	d1 = protowire.AppendTag(d1, dimValue, protowire.VarintType)
	d1 = protowire.AppendVarint(d1, uint64(cols))
	var shape []byte
	shape = protowire.AppendTag(shape, shapeDim, protowire.BytesType)
	shape = protowire.AppendBytes(shape, d0)
	shape = protowire.AppendTag(shape, shapeDim, protowire.BytesType)
	shape = protowire.AppendBytes(shape, d1)
	var tt []byte
	tt = protowire.AppendTag(tt, tensorElemType, protowire.VarintType)
	tt = protowire.AppendVarint(tt, onnxFloat)
	tt = protowire.AppendTag(tt, tensorShape, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, typeTensor, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	var b []byte
	b = protowire.AppendTag(b, valueName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, valueType, protowire.BytesType)
	b = protowire.AppendBytes(b, typ)
	return b
}
