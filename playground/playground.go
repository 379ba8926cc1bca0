package playground

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/riskforge/riskforge/vm"
)

//go:embed static
var static embed.FS

// Policy is one policy version riskd serves, as the page can load it.
type Policy struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Path    string `json:"path"`
	Source  string `json:"-"` // empty for an artifact compiled without source
	// Lists holds the entries of its file-backed lists by the path written
	// in the policy, resolved against Path; the playground reads list
	// files only from here.
	Lists map[string][]string `json:"-"`

	prog *vm.Program // set by FromProgram: a reload replaces it
}

// FromProgram describes a served program: its source and the entries of
// its file-backed lists (numbers as Go formats them).
func FromProgram(name, version, path string, prog *vm.Program) Policy {
	p := Policy{Name: name, Version: version, Path: path, Source: prog.Source, Lists: map[string][]string{}, prog: prog}
	for _, l := range prog.Lists {
		if l.Path == "" {
			continue
		}
		entries := append([]string(nil), l.Strings...)
		for _, n := range l.Nums {
			entries = append(entries, strconv.FormatFloat(n, 'g', -1, 64))
		}
		p.Lists[l.Path] = entries
	}
	return p
}

// Options configure the playground.
type Options struct {
	// Enabled turns the page and its endpoints on; when false every
	// request under /ui is refused with 404 and a message saying how to
	// turn it on.
	Enabled bool
	// Policies returns the policies riskd serves now (called per request).
	Policies func() []Policy
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// Rate and Burst bound requests per second to the endpoints (a token
	// bucket shared by all clients; default 20/s, burst 40: a page checks
	// as its user types).
	Rate  float64
	Burst int
	// MaxInflight bounds concurrent endpoint requests (default 4); more
	// are refused with 429.
	MaxInflight int
	// MaxHistory bounds the seeded window history of one run (default
	// 10000 events).
	MaxHistory int
	// Logger receives refusals; nil discards them.
	Logger *slog.Logger
}

// Handler serves /ui and /ui/api/*.
type Handler struct {
	opts    Options
	limiter *rate.Limiter
	slots   chan struct{}
	files   http.Handler
	mux     *http.ServeMux
	cache   compileCache
}

// compileCache keeps the compilations of the last texts, by the SHA-256 of
// path and source, oldest evicted first.
type compileCache struct {
	mu    sync.Mutex
	m     map[[32]byte]compiled
	order [][32]byte
}

const compileCacheSize = 16

func (c *compileCache) get(k [32]byte) (compiled, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *compileCache) put(k [32]byte, v compiled) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]compiled{}
	}
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) == compileCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = v
	c.order = append(c.order, k)
}

// Prefix is where riskd mounts the playground.
const Prefix = "/ui"

// New returns the playground handler; mount it at Prefix and Prefix+"/".
func New(o Options) *Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.Burst <= 0 {
		o.Burst = 40
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 4
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Policies == nil {
		o.Policies = func() []Policy { return nil }
	}
	sub, _ := fs.Sub(static, "static")
	h := &Handler{opts: o, limiter: rate.NewLimiter(rate.Limit(o.Rate), o.Burst), slots: make(chan struct{}, o.MaxInflight)}
	h.files = http.StripPrefix(Prefix+"/", http.FileServerFS(sub))
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST "+Prefix+"/api/check", h.limited(h.check))
	h.mux.HandleFunc("POST "+Prefix+"/api/format", h.limited(h.format))
	h.mux.HandleFunc("POST "+Prefix+"/api/run", h.limited(h.run))
	h.mux.HandleFunc("GET "+Prefix+"/api/policies", h.limited(h.policies))
	h.mux.HandleFunc("GET "+Prefix+"/api/policy", h.limited(h.policy))
	h.mux.HandleFunc(Prefix+"/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no such playground endpoint: "+r.Method+" "+r.URL.Path)
	})
	h.mux.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	h.mux.HandleFunc(Prefix+"/", h.static)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		writeError(w, http.StatusNotFound, "", "the playground is off; start riskd with --ui (or set ui.enabled: true in the config)")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// static serves the embedded page. The page is self-contained: no fonts,
// scripts or styles from elsewhere, so it works with no network.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "", "use GET")
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	h.files.ServeHTTP(w, r)
}

// limited admits a request within the rate and concurrency limits and
// reads its body up to MaxBodyBytes.
func (h *Handler) limited(fn func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.limiter.Allow() {
			h.refuse(w, r, http.StatusTooManyRequests, "", "too many playground requests; retry in a second")
			return
		}
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
		default:
			h.refuse(w, r, http.StatusTooManyRequests, "", "the playground is busy ("+strconv.Itoa(h.opts.MaxInflight)+" requests running); retry in a second")
			return
		}
		var body []byte
		if r.Method == http.MethodPost {
			var err error
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				h.refuse(w, r, http.StatusRequestEntityTooLarge, "body", "request body is larger than "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes")
				return
			}
			if err != nil {
				h.refuse(w, r, http.StatusBadRequest, "body", err.Error())
				return
			}
		}
		fn(w, r, body)
	}
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, field, msg string) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	h.opts.Logger.Warn("playground request refused", "status", status, "path", r.URL.Path, "field", field, "error", msg, "remote", r.RemoteAddr)
	writeError(w, status, field, msg)
}

// writeError sends {"error": msg, "field": field}.
func writeError(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
		Field string `json:"field,omitempty"`
	}{msg, field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// decodeBody decodes a JSON body strictly: unknown fields are errors.
func decodeBody(body []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value in the body")
	}
	return nil
}
