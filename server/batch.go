package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// POST /v1/decide/batch: splitting the body into items and framing the
// answer around each item's decision or error.

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	const ep = epBatch
	start := time.Now()
	rid, herr := requestID(r)
	defer s.recoverPanic(w, r, ep, &rid)
	if !s.precheck(w, r, ep, rid, herr, "use POST with a JSON array or JSON Lines body") {
		return
	}
	if rid == "" {
		rid = newRequestID()
	}
	wk := s.getWork()
	defer s.putWork(wk)
	body, herr := s.readChecked(r, wk, int64(s.lim.MaxBatchBodyBytes), s.lim.MaxJSONDepth+1)
	var items [][]byte
	if herr == nil {
		herr, rid = s.checkRequestSignature(r, ep, rid, body)
	}
	if herr == nil {
		items, herr = splitBatch(body, r.Header.Get("Content-Type"), s.lim.MaxBatchItems)
	}
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	if !s.admit(w, ep, rid) {
		return
	}
	defer s.leave()
	sn := s.acquire()
	defer sn.release()
	ps, herr := s.pickPolicy(sn, r, func() []string {
		events := make([]string, len(items))
		for i, item := range items {
			events[i] = api.EventOf(item)
		}
		return events
	})
	if herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	pin := r.Header.Get(hdrPin)
	if herr := s.authorizePin(ps, pin, r); herr != nil {
		s.writeError(w, r, ep, herr, rid, true)
		return
	}
	deadline := start.Add(s.lim.RequestTimeout.D())
	out := wk.out
	out = append(out, `{"request_id":`...)
	out = appendString(out, rid)
	out = append(out, `,"count":`...)
	out = strconv.AppendInt(out, int64(len(items)), 10)
	out = append(out, `,"results":[`...)
	failed, incomplete := 0, false
	ar := s.auditRec()
	defer s.putAuditRec(ar)
	for i, item := range items {
		if i > 0 {
			out = append(out, ',')
		}
		itemStart := time.Now()
		irid := rid + "-" + strconv.Itoa(i)
		if itemStart.After(deadline) {
			out = appendError(out, i, irid, &httpError{errCode: api.CodeDeadline, msg: fmt.Sprintf("not evaluated: the request deadline (%s) passed", s.lim.RequestTimeout)})
			failed, incomplete = failed+1, true
			continue
		}
		// Each item is a decision of its own: its own span, a child of
		// the batch request's traceparent, as if it had come alone.
		tr := s.startTrace(r.Context(), "batch", r.Header.Get)
		// Each item is checked on its own: the whole-body check above
		// cannot see where one JSON Lines item ends and the next begins.
		endDecode := tr.phase("decode")
		herr := checkBody(item, s.lim.MaxJSONDepth)
		var e *entry
		var req *vm.Request
		bucket := -1
		if herr == nil {
			e, req, bucket, herr = ps.route(item, pin)
		}
		endDecode()
		if herr == nil && req.ID != "" && !validID(req.ID) {
			e.v.serve.putReq(req)
			herr = badRequest("request_id", "must be 1 to 128 printable ASCII characters")
		}
		if herr != nil {
			out = appendError(out, i, irid, herr)
			failed++
			tr.refused(herr)
			tr.end(irid)
			continue
		}
		if req.ID != "" {
			irid = req.ID
		}
		if e.v.lookups != nil {
			endLookups := tr.phase("lookups")
			e.v.lookups.fill(r.Context(), req)
			endLookups()
		}
		var action vm.Action
		var err error
		out, action, err = s.evaluate(out, i, irid, ps, e, req, itemStart, ar, rid, item, tr)
		e.v.serve.putReq(req)
		if err != nil {
			he := evalError(err)
			out = appendError(out, i, irid, he)
			failed++
			tr.refused(he)
			tr.end(irid)
			continue
		}
		if ar != nil {
			s.submit(ar, irid)
		}
		s.observe(ps, irid, tr.id(), time.Since(itemStart))
		tr.end(irid)
		if len(ps.shadows) > 0 {
			s.shadows(ps, e, bucket, item, irid, action)
		}
	}
	out = append(out, `],"errors":`...)
	out = strconv.AppendInt(out, int64(failed), 10)
	out = append(out, `,"incomplete":`...)
	out = strconv.AppendBool(out, incomplete)
	out = append(out, '}')
	wk.out = out
	if herr := s.waitAll(ar); herr != nil {
		s.writeError(w, r, ep, herr, rid, false)
		return
	}
	s.signResponse(w, body, out)
	writeJSON(w, http.StatusOK, rid, out)
	s.metrics.countRequest(ep, http.StatusOK)
	if failed > 0 {
		s.log.Warn("batch events refused", "request_id", rid, "count", len(items), "errors", failed, "incomplete", incomplete)
	}
}

// splitBatch cuts a batch body into its requests: a JSON array, or JSON
// Lines (one request per line; chosen by Content-Type or a body that
// starts with '{').
func splitBatch(body []byte, ctype string, max int) ([][]byte, *httpError) {
	trimmed := bytes.TrimSpace(body)
	tooMany := &httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("the batch holds more than %d events (limits.max_batch_items)", max)}
	jsonl := strings.Contains(ctype, "ndjson") || strings.Contains(ctype, "jsonl") || trimmed[0] == '{'
	var items [][]byte
	if jsonl {
		for len(trimmed) > 0 {
			line := trimmed
			if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
				line, trimmed = trimmed[:i], trimmed[i+1:]
			} else {
				trimmed = nil
			}
			if line = bytes.TrimSpace(line); len(line) == 0 {
				continue
			}
			if len(items) == max {
				return nil, tooMany
			}
			items = append(items, line)
		}
		return items, nil
	}
	if trimmed[0] != '[' {
		return nil, badRequest("body", "a batch is a JSON array of requests, or JSON Lines with one request per line")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("body", "invalid JSON: %v", err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("body", "event %d: invalid JSON: %v", len(items), err)
		}
		if len(items) == max {
			return nil, tooMany
		}
		items = append(items, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("body", "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("body", "unexpected data after the JSON array")
	}
	if len(items) == 0 {
		return nil, badRequest("body", "the batch is empty")
	}
	return items, nil
}
