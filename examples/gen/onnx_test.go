package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestPipelineModelsCommitted: the committed ONNX files of the pipeline
// example are exactly what `gen pipeline-models` writes, so the weights in
// pipelineModels are the ones served.
func TestPipelineModelsCommitted(t *testing.T) {
	for _, m := range pipelineModels {
		got, err := os.ReadFile(filepath.Join("../models", m.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.encode()) {
			t.Errorf("examples/models/%s differs from the generator's output: run go run ./examples/gen pipeline-models -dir examples/models", m.file)
		}
	}
}
