// Package models runs the ONNX models a policy declares
// (`model NAME = onnx "PATH" { ... }`) with onnxruntime, through
// github.com/yalue/onnxruntime_go and the shared library `make deps`
// installs (onnxruntime 1.24.1).
//
// It owns:
//
//   - finding and loading the onnxruntime library (LibraryPath, Init): one
//     process-wide environment;
//   - the Registry, which loads every model of a program once, checks that
//     the declaration matches the graph (one float input [N, len(inputs)];
//     the output by name, a float or double tensor or a sequence of
//     probability maps as sklearn classifiers produce; the index within it),
//     records each file's SHA-256, and implements vm.ModelRunner;
//   - the per-call timeout (onnxruntime's RunOptions terminate flag, armed
//     by a per-session timer, no goroutine per call), the error, timeout and
//     NaN results that make the Machine use the model's on_error value and
//     mark the decision degraded, and the Prometheus metrics
//     riskforge_model_calls_total and riskforge_model_latency_seconds;
//   - native tree ensembles (trees.go, native.go): a binary
//     TreeEnsembleClassifier evaluated in Go, bit for bit as onnxruntime
//     computes it, once it matches onnxruntime on probe rows at load
//     (ModelInfo.Engine; Options.ONNXRuntimeOnly turns it off);
//   - the batch path, PredictBatch, which scores many rows in one Run for
//     offline work (backtests, training);
//   - Check, the model part of `riskc check`.
//
// Sessions run with one intra-op thread and spinning off by default:
// parallelism comes from concurrent requests, each on its own session.
// docs/MODELS.md explains how to bring a model and what happens when it
// fails.
package models
