//go:build tools

// Package riskforge pins the project's chosen third-party dependencies.
//
// This file is compiled only with the "tools" build tag. It blank-imports
// libraries that the code will use but may not import yet, so that go.mod keeps
// requiring them (and `go mod tidy` does not drop them) while the packages that
// use them are being written:
//
//   - participle/v2: the policy language parser (lang/);
//   - expr: expression evaluation;
//   - gorgonia: the differentiable graph used by `riskc train`;
//   - onnxruntime_go: ONNX model calls (needs the shared library from `make deps`);
//   - prometheus/client_golang: riskd metrics;
//   - go4.org/unsafe/assume-no-moving-gc: a dependency of Gorgonia's, pinned
//     directly because Gorgonia v0.9.18 builds on Go 1.26 only with version
//     v0.0.0-20231121144256-b99613f794b6 or newer (older ones refuse to build
//     on Go releases they do not know).
//
// Check it still compiles with: go build -tags tools .
package riskforge

import (
	_ "github.com/alecthomas/participle/v2"
	_ "github.com/expr-lang/expr"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/yalue/onnxruntime_go"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "gorgonia.org/gorgonia"
)
