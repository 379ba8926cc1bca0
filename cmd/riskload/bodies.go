package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// loadPolicy compiles the policy riskd will serve, to learn its inputs: a
// .risk or .rbc file, or the first of them in a directory.
func loadPolicy(path string) (*vm.Program, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		var files []string
		for _, pat := range []string{"*.risk", "*.rbc"} {
			m, _ := filepath.Glob(filepath.Join(path, pat))
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .risk or .rbc file", path)
		}
		sort.Strings(files)
		path = files[0]
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	prog, _, _, err := compiler.Load(path, data)
	return prog, err
}

// Key distributions of the generated identifiers (--dist).
const (
	// distZipf: devices, IPs, merchants and cards drawn with Zipf-like
	// popularity (a few keys are on a large share of the requests, as a
	// shared office IP or a big merchant are), and newUserShare of the
	// requests from a user seen nowhere else in the set.
	distZipf = "zipf"
	// distUniform: every identifier uniform over keySpace, the earlier
	// generator's traffic; kept for comparison.
	distUniform = "uniform"
)

const (
	keySpace     = 50000 // identifiers per field
	zipfS        = 1.1   // Zipf exponent of popular keys: the top key is on 14% of the requests, the top 100 on 59%
	newUserShare = 0.8
)

// genBodies makes n valid decision requests for prog with synthetic but
// plausible values: identifiers from a key space of keySpace per field,
// distributed as dist says (distZipf or distUniform), numbers inside the
// declared bounds, optional inputs present most of the time. A drive
// cycles through them and rewrites each as it sends it (bodySet): new
// users get ids never sent before and `ts` the time of sending.
func genBodies(prog *vm.Program, n int, seed uint64, dist string) *bodySet {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	zipf := rand.NewZipf(r, zipfS, 1, keySpace-1)
	now := time.Now().UTC()
	events := prog.Events
	if len(events) == 0 {
		events = []string{"event"}
	}
	countries := []string{"DE", "DE", "DE", "FR", "NL", "BE", "AT", "IE", "US", "GB"}
	// popular draws the index of a device, IP, merchant or card.
	popular := func() int {
		if dist == distZipf {
			return int(zipf.Uint64())
		}
		return r.IntN(keySpace)
	}
	set := &bodySet{raw: make([][]byte, n), newUser: make([][]int, n), ts: make([]int, n)}
	stamp := now.Format(time.RFC3339)
	for i := range set.raw {
		req := api.DecideRequest{Event: events[r.IntN(len(events))], RequestID: fmt.Sprintf("load-%d", i), Features: map[string]json.RawMessage{}}
		var b bytes.Buffer
		// The user of this request: under Zipf most are new (an id no
		// other body has), the rest return from the key space.
		user := fmt.Sprintf("%05d", r.IntN(keySpace))
		if dist == distZipf && r.Float64() < newUserShare {
			user = fmt.Sprintf("new%0*d", newUserDigits, i)
		}
		for _, in := range prog.Inputs {
			if (in.Optional && r.Float64() < 0.3) || (in.Default != nil && r.Float64() < 0.2) {
				continue
			}
			b.Reset()
			name := strings.ToLower(in.Name)
			switch in.Type {
			case vm.TString:
				var v string
				switch {
				case strings.Contains(name, "country"):
					v = countries[r.IntN(len(countries))]
				case strings.Contains(name, "email"):
					v = "user" + user + "@example.com"
				case strings.Contains(name, "user") || strings.Contains(name, "customer") || strings.Contains(name, "account"):
					v = string(name[0]) + user
				case strings.HasSuffix(name, "_id") || strings.Contains(name, "device") || strings.Contains(name, "card") ||
					strings.Contains(name, "merchant") || name == "ip" || strings.HasPrefix(name, "ip_addr"):
					v = fmt.Sprintf("%c%05d", name[0], popular())
				default:
					v = fmt.Sprintf("v%d", r.IntN(100))
				}
				b.WriteString(strconv.Quote(v))
			case vm.TBool:
				b.WriteString(strconv.FormatBool(r.IntN(2) == 0))
			case vm.TTime:
				t := now
				if name != "ts" {
					t = now.Add(-time.Duration(r.Int64N(int64(6 * 365 * 24 * time.Hour))))
				}
				b.WriteString(strconv.Quote(t.Format(time.RFC3339)))
			case vm.TInt:
				lo, hi := bounds(in, 0, 100)
				lo, hi = math.Ceil(lo), math.Floor(hi)
				if in.MinOpen && lo == in.Min {
					lo++
				}
				if in.MaxOpen && hi == in.Max {
					hi--
				}
				v := lo
				if hi > lo {
					v = lo + float64(r.Int64N(int64(hi-lo)+1))
				}
				b.WriteString(strconv.FormatFloat(v, 'f', 0, 64))
			default:
				lo, hi := bounds(in, 0, 10000)
				v := lo + r.Float64()*(hi-lo)
				v = math.Round(v*100) / 100
				if v <= lo && in.MinOpen {
					v = lo + 0.01
				}
				if v >= hi && in.MaxOpen {
					v = hi - 0.01
				}
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			}
			req.Features[in.Name] = append(json.RawMessage(nil), b.Bytes()...)
		}
		body, err := json.Marshal(req)
		if err != nil {
			panic(err) // every value above is valid JSON
		}
		set.raw[i] = body
		set.ts[i] = -1
		if at := bytes.Index(body, []byte(`"ts":"`+stamp+`"`)); at >= 0 {
			set.ts[i] = at + len(`"ts":"`)
		}
		if strings.HasPrefix(user, "new") {
			for at := 0; ; {
				j := bytes.Index(body[at:], []byte(user))
				if j < 0 {
					break
				}
				at += j + len(user)
				set.newUser[i] = append(set.newUser[i], at-newUserDigits)
			}
		}
	}
	return set
}

// bounds returns the declared range, or a default for open sides.
func bounds(in vm.Input, lo, hi float64) (float64, float64) {
	l, h := in.Min, in.Max
	if math.IsInf(l, -1) || l < -1e12 {
		l = math.Min(lo, h-1)
	}
	if math.IsInf(h, 1) || h > 1e12 {
		h = math.Max(hi, l+1)
	}
	return l, h
}

// newUserDigits is the width of a new user's number: fixed, so that a
// body keeps its length (and Content-Length) when the number is rewritten.
const newUserDigits = 10

// newUsers numbers the new users of every drive in this process: a riskd
// measured for several rounds never sees a "new" user twice.
var newUsers atomic.Uint64

// bodySet is the request bodies a drive cycles through, and where each is
// rewritten as it is sent. Sent unchanged, a set of n bodies would replay
// the same traffic every n requests: its new users would return, with the
// `ts` they first had, and fill the windows as no real traffic does.
type bodySet struct {
	raw [][]byte // valid requests as generated (also what riskload kafka produces)
	// newUser[i] holds the offsets in raw[i] of the newUserDigits digits
	// of its new user's number (in user_id and e-mail); nil for a
	// returning user.
	newUser [][]int
	// ts[i] is the offset in raw[i] of its `ts` value (RFC 3339, UTC,
	// 20 bytes); -1 when the policy has no `ts` input.
	ts []int
}

// plainBodies is a set of bodies sent as they are.
func plainBodies(raw [][]byte) *bodySet {
	s := &bodySet{raw: raw, newUser: make([][]int, len(raw)), ts: make([]int, len(raw))}
	for i := range s.ts {
		s.ts[i] = -1
	}
	return s
}

func (s *bodySet) len() int { return len(s.raw) }

// timeStamp is the current second as RFC 3339 text, formatted again only
// when the second changes.
type timeStamp struct {
	sec  int64
	text []byte
}

func (t *timeStamp) at(now time.Time) []byte {
	if sec := now.Unix(); sec != t.sec || t.text == nil {
		t.sec, t.text = sec, now.UTC().AppendFormat(t.text[:0], time.RFC3339)
	}
	return t.text
}

// render returns the request req (an HTTP request whose body, raw[i],
// ends it) as it is sent now, rewritten in *buf: a new user numbered
// afresh and ts set to now. A request with nothing to rewrite is req
// itself, not a copy.
func (s *bodySet) render(buf *[]byte, req []byte, i int, now *timeStamp, t time.Time) []byte {
	if s.ts[i] < 0 && s.newUser[i] == nil {
		return req
	}
	*buf = append((*buf)[:0], req...)
	dst := *buf
	body := dst[len(dst)-len(s.raw[i]):]
	if at := s.ts[i]; at >= 0 {
		copy(body[at:at+20], now.at(t))
	}
	if offs := s.newUser[i]; offs != nil {
		var digits [newUserDigits]byte
		n := newUsers.Add(1)
		for k := newUserDigits - 1; k >= 0; k-- {
			digits[k] = byte('0' + n%10)
			n /= 10
		}
		for _, at := range offs {
			copy(body[at:at+newUserDigits], digits[:])
		}
	}
	return dst
}
