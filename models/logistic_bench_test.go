package models

import "testing"

// BenchmarkLogistic times onnxruntime's logistic with libm's expf through
// cgo, the one cgo call of a native tree-ensemble prediction.
func BenchmarkLogistic(b *testing.B) {
	var s float32
	for i := 0; i < b.N; i++ {
		s += logistic(float32(i%64) * -0.25)
	}
	sink = s
}

var sink float32
