package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Redis reads a hash per key (HMGET key field...). A key whose fields are
// all absent reads as missing.
type Redis struct {
	Client redis.UniversalClient
	Fields []string
}

// Fetch implements Source.
func (s *Redis) Fetch(ctx context.Context, key string) (Record, error) {
	vals, err := s.Client.HMGet(ctx, key, s.Fields...).Result()
	if err != nil {
		return Record{}, err
	}
	r := Record{Fields: make(map[string]string, len(s.Fields))}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			r.Fields[s.Fields[i]] = str
		}
	}
	r.Missing = len(r.Fields) == 0
	return r, nil
}

// HTTP GETs a JSON object per key from URL with "{key}" replaced by the
// escaped key. 404 reads as missing; other non-2xx statuses are errors.
// Scalar fields are kept as their JSON text (strings unquoted); nested
// values are not features and are left out.
type HTTP struct {
	URL    string
	Client *http.Client
	Header http.Header // added to every request (e.g. Authorization)
	// MaxBytes bounds a response body (default 64 KiB).
	MaxBytes int64
}

// Fetch implements Source.
func (s *HTTP) Fetch(ctx context.Context, key string) (Record, error) {
	return s.FetchURL(ctx, strings.ReplaceAll(s.URL, "{key}", url.PathEscape(key)))
}

// FetchURL fetches the record at u (a URL built by the caller).
func (s *HTTP) FetchURL(ctx context.Context, u string) (Record, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Record{}, err
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	cl := s.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return Record{}, err
	}
	defer resp.Body.Close()
	limit := s.MaxBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Record{}, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Record{Missing: true}, nil
	case resp.StatusCode/100 != 2:
		return Record{}, fmt.Errorf("GET %s: %s", u, resp.Status)
	case int64(len(body)) > limit:
		return Record{}, fmt.Errorf("GET %s: response larger than %d bytes", u, limit)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return Record{}, fmt.Errorf("GET %s: not a JSON object: %w", u, err)
	}
	r := Record{Fields: make(map[string]string, len(obj))}
	for k, raw := range obj {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || string(raw) == "null" || raw[0] == '{' || raw[0] == '[':
		case raw[0] == '"':
			var str string
			if err := json.Unmarshal(raw, &str); err != nil {
				return Record{}, errors.New("GET " + u + ": bad string in field " + k)
			}
			r.Fields[k] = str
		default:
			r.Fields[k] = string(raw)
		}
	}
	return r, nil
}
