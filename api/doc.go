// Package api is riskd's wire format, version 1: the JSON a client sends
// to /v1/decide and /v1/decide/batch and the JSON riskd answers with,
// including error bodies, the readiness report and the policy report.
// It is the one home of these shapes: riskd (server, cmd/riskd), the load
// generator (cmd/riskload) and data files (dataset) all use it, and
// TestWireTypes in cmd/riskd holds riskd's real answers to these types.
//
// A request is decoded into a vm.Request for a given program by Decoder
// (a fast path for the common shape, falling back to the reference
// decoder DecodeRequest) or, for data files that keep labels beside the
// request, by DecodeJSON. The vm package only offers typed setters; the
// field names of the wire format live here.
//
// The types follow docs/OPERATIONS.md. Changes within v1 only add
// fields; a client must ignore fields it does not know.
package api

// Version is the wire format version, the path prefix of the endpoints.
const Version = "v1"
