package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// Refusals: the error a handler returns, its stable code (api.Code)
// and how it is written and logged.

// httpError is a refused request: status, the field at fault, why.
type httpError struct {
	status int
	field  string
	msg    string
	// errCode is the stable code when the status alone does not give it
	// (api.CodeForStatus otherwise).
	errCode api.Code
}

// code is the error's stable code for the body's "code".
func (e *httpError) code() api.Code {
	if e.errCode != "" {
		return e.errCode
	}
	return api.CodeForStatus(e.status)
}

func badRequest(field, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

// fieldError turns a vm decoding error into a 400 naming the field.
func fieldError(err error) *httpError {
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return &httpError{status: http.StatusBadRequest, field: api.FieldPath(fe), msg: fe.Msg}
	}
	return &httpError{status: http.StatusBadRequest, field: "body", msg: err.Error()}
}

// writeJSON sends a complete JSON response.
func writeJSON(w http.ResponseWriter, status int, rid string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ctJSON
	// One allocation for both header values (capacities capped so an
	// append to one never writes into the other).
	vals := []string{strconv.Itoa(len(body)), rid}
	h["Content-Length"] = vals[0:1:1]
	if rid != "" {
		h[hdrRequestID] = vals[1:2:2]
	}
	w.WriteHeader(status)
	w.Write(body)
}

// writeError sends the api.Error body and logs the refusal.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, ep int, e *httpError, rid string, logIt bool) {
	if rid == "" {
		rid = newRequestID()
	}
	e.msg = clip(e.msg, maxErrorMsg)
	writeJSON(w, e.status, rid, appendError(nil, -1, rid, e))
	s.metrics.countRequest(ep, e.status)
	if !logIt {
		return
	}
	level := slog.LevelWarn
	if e.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("request_id", rid), slog.Int("status", e.status), slog.String("endpoint", endpointNames[ep])}
	if e.field != "" {
		attrs = append(attrs, slog.String("field", e.field))
	}
	attrs = append(attrs, slog.String("error", e.msg))
	if r != nil {
		attrs = append(attrs, slog.String("remote", r.RemoteAddr))
	}
	s.log.LogAttrs(ctxBG, level, "request refused", attrs...)
}

// recoverPanic turns a panic in a handler into a 500 and an error log.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request, ep int, rid *string) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	s.log.Error("panic while serving a request", "request_id", *rid, "endpoint", endpointNames[ep], "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	s.writeError(w, r, ep, &httpError{status: http.StatusInternalServerError, msg: "internal error; the server log has the details"}, *rid, false)
}

func evalError(err error) *httpError {
	if errors.Is(err, vm.ErrUnknownEvent) {
		return badRequest("event", "%v", err)
	}
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return fieldError(err)
	}
	return &httpError{status: http.StatusInternalServerError, msg: "evaluation failed: " + err.Error()}
}

// appendError writes an api.Error: {"request_id":…,"error":…,
// "field":…,"code":…}; index >= 0 adds the batch position.
func appendError(b []byte, index int, rid string, e *httpError) []byte {
	msg := clip(e.msg, maxErrorMsg)
	b = appendItemHead(b, index, rid)
	b = append(b, `,"error":`...)
	if e.field != "" {
		b = appendString(b, e.field+": "+msg)
		b = append(b, `,"field":`...)
		b = appendString(b, e.field)
	} else {
		b = appendString(b, msg)
	}
	b = append(b, `,"code":"`...)
	b = append(b, e.code()...)
	return append(b, `"}`...)
}
