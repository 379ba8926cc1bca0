// Package audit owns riskd's audit trail: an append-only, crash-safe,
// tamper-evident log of every decision.
//
// Records live in segment files under one directory. Each record is
// framed like etcd's WAL (a length, a CRC-32C, the payload, zero padding
// to 8 bytes) and chained: h_i = SM3(h_{i-1} || payload_i), the payload
// carrying h_{i-1}. Appends are group-committed under a sync policy
// (always, batch, none) and a caller is told a record is durable only
// after the sync that covers it; a failed sync fails the log for good
// (no silent retry). Open recovers a torn tail (truncated, the damaged
// bytes kept in a .broken file) and refuses damage anywhere else,
// naming the segment and offset. A checkpoint (segment, offset, record
// count, head hash, time) signed with SM2 is written beside the log every
// interval. Verify checks framing, every chain link and every checkpoint;
// Reader decodes records for show and tail, decrypting payloads sealed
// with SM4-GCM when given the key.
//
// The package does not know what a decision looks like: a record's body
// is bytes the server encodes (docs/AUDIT.md documents the decision
// schema, Decision decodes it). All SM algorithms come from internal/gm.
package audit
