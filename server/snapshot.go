package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/server/rollout"
	"github.com/riskforge/riskforge/vm"
)

// ModelSet runs the models of one program version (the models package's
// Registry). riskd closes it when the version is unloaded and no request
// uses it any more.
type ModelSet interface {
	vm.ModelRunner
	Close() error
}

// ModelLoader loads the models a program declares; policyPath is the
// .risk or .rbc file, against which model paths are resolved. An error
// wrapping ErrNoModelRuntime (the runtime library is missing) serves the
// version degraded and not ready; any other error rejects the version.
type ModelLoader func(prog *vm.Program, policyPath string) (ModelSet, error)

// ModelDescriber is a ModelSet that describes its runtime (riskd's
// registry reports the ONNX Runtime version and execution provider).
// GET /v1/policies shows the description as a version's model_runtime.
type ModelDescriber interface {
	ModelSet
	// ModelInfo is the description, encoded as JSON.
	ModelInfo() any
}

// ErrNoModelRuntime says models cannot run at all on this machine.
var ErrNoModelRuntime = errors.New("no model runtime")

// Version is one loaded version of a policy: what was loaded and what it
// needs to run (program, models, lookups). Versions are immutable and
// shared between snapshots while their content does not change. What it
// keeps only to answer fast lives apart, in serve (serving.go).
type Version struct {
	Policy, Version string
	Prog            *vm.Program
	Path            string // file it was loaded from
	Kind            string // source or artifact
	Digest          string // sha256 of the program's artifact encoding
	LoadedAt        time.Time
	Warnings        []string

	identity [32]byte
	deps     []string
	models   ModelSet // nil: no models declared, or no runtime
	runner   vm.ModelRunner
	modelErr string     // why models are not loaded, when declared
	lookups  *lookupSet // nil: the program declares no lookups

	serve serving // pools and pre-encoded JSON, derived from the above
}

// machine takes a pooled machine (vm keeps the pool in the program, so
// an unloaded version is collected with its machines).
func (v *Version) machine() *vm.Machine { return v.Prog.Machine() }

func (v *Version) release(m *vm.Machine) { m.Release() }

func (v *Version) String() string { return v.Policy + "@" + v.Version }

// role is what a loaded version does in its policy's rollout.
type role uint8

const (
	roleChampion role = iota
	roleChallenger
	roleShadow
	rolePinned // loaded, served only to requests pinning it
)

var roleNames = [...]string{"champion", "challenger", "shadow", "pinned"}

func (r role) String() string { return roleNames[r] }

// entry is a version's place in one snapshot: its role, share and window
// state. The same Version may have another entry in the next snapshot.
type entry struct {
	v       *Version
	role    role
	percent float64
	windows vm.WindowStore // nil when the program has no windows
	keyIn   int            // index of the rollout key input, -1 when not needed
	m       versionMetrics // counters for this version in this role
}

// policySet is every loaded version of one policy and its rollout.
type policySet struct {
	name        string
	champion    *entry
	challengers []*entry
	split       rollout.Split
	shadows     []*entry
	byVersion   map[string]*entry
	order       []*entry // champion, challengers, shadows, pinned
	key, seed   string
	pinnable    map[string]bool // versions any client may pin
	needBucket  bool            // challengers or sampled shadows: hash the key
	// defaultBucket is the bucket of a request without the key (the
	// champion's default for it), -1 when such a request has none.
	defaultBucket int
	latency       latencyObserver
	versionList   string
}

// snapshot is the immutable serving state: what is loaded, how it rolls
// out, and the window stores. Requests use the snapshot current when
// they start; a reload builds a new one and swaps it in atomically.
type snapshot struct {
	gen      uint64
	loadedAt time.Time
	policies map[string]*policySet
	names    []string // sorted
	def      *policySet
	versions []*Version
	watch    []string // files and directories whose change triggers a reload
	cfg      *config.Config

	refs atomic.Int64 // requests using this snapshot
}

// buildOptions say how strict a build is about its files.
type buildOptions struct {
	allowShrink bool // accept versions that lost rules or list entries
}

// build loads everything cfg names into a new snapshot. Versions whose
// content did not change are taken over from old with their models and
// counters; window state is kept per lane and window signature (see lane). On error
// nothing is changed and every model set opened here is closed again.
// Files must be complete, stable and not shrunk (integrity.go).
func (s *Server) build(cfg *config.Config, old *snapshot, opts buildOptions) (sn *snapshot, err error) {
	var files []*loaded
	var errs []error
	for _, e := range cfg.Policies {
		ls, err := loadEntry(e, s.lim)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, ls...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(files) == 0 {
		return nil, errors.New("no policies configured: give --policy DIR or a policies list in the config")
	}
	byName := map[string][]*loaded{}
	for _, l := range files {
		byName[l.prog.Name] = append(byName[l.prog.Name], l)
	}
	errs = append(errs, oneFilePerVersion(byName)...)
	for name := range cfg.Rollout {
		if byName[name] == nil {
			errs = append(errs, fmt.Errorf("rollout.%s: no policy named %s is loaded (loaded: %s)", name, name, strings.Join(sortedKeys(byName), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !opts.allowShrink {
		if err := checkShrink(old, files); err != nil {
			return nil, err
		}
	}
	if err := checkStable(files, s.start.Reload.Debounce.D(), s.stop); err != nil {
		return nil, err
	}

	var oldVersions map[[32]byte]*Version
	if old != nil {
		oldVersions = map[[32]byte]*Version{}
		for _, v := range old.versions {
			oldVersions[v.identity] = v
		}
	}
	now := time.Now()
	sn = &snapshot{loadedAt: now, policies: map[string]*policySet{}, cfg: cfg}
	var fresh []*Version
	defer func() {
		if err != nil {
			for _, v := range fresh {
				v.close()
			}
		}
	}()
	names := sortedKeys(byName)
	for _, name := range names {
		ps, err := s.buildPolicy(cfg, name, byName[name], oldVersions, &fresh, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sn.policies[name] = ps
		sn.names = append(sn.names, name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, name := range sn.names {
		for _, e := range sn.policies[name].order {
			sn.versions = append(sn.versions, e.v)
		}
	}
	switch {
	case cfg.Server.DefaultPolicy != "":
		if sn.def = sn.policies[cfg.Server.DefaultPolicy]; sn.def == nil {
			return nil, fmt.Errorf("server.default_policy: no policy named %s is loaded (loaded: %s)", cfg.Server.DefaultPolicy, strings.Join(sn.names, ", "))
		}
	case len(sn.names) == 1:
		sn.def = sn.policies[sn.names[0]]
	}
	if err := s.bindWindows(sn); err != nil {
		return nil, err
	}
	sn.watch = watchList(cfg, sn)
	return sn, nil
}

// buildPolicy assigns roles to the loaded versions of one policy.
func (s *Server) buildPolicy(cfg *config.Config, name string, ls []*loaded, oldVersions map[[32]byte]*Version, fresh *[]*Version, now time.Time) (*policySet, error) {
	byVersion := map[string]*loaded{}
	var versions []string
	for _, l := range ls {
		byVersion[l.prog.Version] = l
		versions = append(versions, fmt.Sprintf("%q (%s)", l.prog.Version, l.path))
	}
	ro, configured := cfg.RolloutFor(name)
	if !configured {
		if len(ls) > 1 {
			return nil, fmt.Errorf("policy %s: %d versions are loaded (%s); say which one is the champion under rollout.%s in the config", name, len(ls), strings.Join(versions, ", "), name)
		}
		ro = config.Rollout{Champion: ls[0].prog.Version}
	}
	if ro.Key == "" {
		ro.Key = "user_id"
	}
	ps := &policySet{name: name, byVersion: map[string]*entry{}, key: ro.Key, seed: name + "/" + ro.Seed}
	ps.latency = s.metrics.latencyFor(name)
	add := func(version string, r role, percent float64, where string) (*entry, error) {
		l := byVersion[version]
		if l == nil {
			return nil, fmt.Errorf("rollout.%s.%s: version %q of %s is not loaded (loaded: %s)", name, where, version, name, strings.Join(versions, ", "))
		}
		v, err := s.version(cfg, l, oldVersions, fresh, now)
		if err != nil {
			return nil, err
		}
		e := &entry{v: v, role: r, percent: percent, keyIn: -1, m: s.metrics.forEntry(v, r)}
		ps.byVersion[version] = e
		ps.order = append(ps.order, e)
		return e, nil
	}
	var err error
	if ps.champion, err = add(ro.Champion, roleChampion, 100, "champion"); err != nil {
		return nil, err
	}
	var percents []float64
	for i, a := range ro.Challengers {
		e, err := add(a.Version, roleChallenger, a.Share(0), fmt.Sprintf("challengers[%d]", i))
		if err != nil {
			return nil, err
		}
		ps.challengers = append(ps.challengers, e)
		percents = append(percents, e.percent)
		ps.champion.percent -= e.percent
		ps.needBucket = ps.needBucket || e.percent > 0
	}
	ps.split = rollout.NewSplit(percents)
	for i, a := range ro.Shadows {
		e, err := add(a.Version, roleShadow, a.Share(100), fmt.Sprintf("shadows[%d]", i))
		if err != nil {
			return nil, err
		}
		ps.shadows = append(ps.shadows, e)
		ps.needBucket = ps.needBucket || e.percent < 100
	}
	for _, l := range ls {
		if ps.byVersion[l.prog.Version] == nil {
			if _, err := add(l.prog.Version, rolePinned, 0, "pinned"); err != nil {
				return nil, err
			}
		}
	}
	ps.pinnable = map[string]bool{}
	for i, v := range ro.Pinnable {
		if ps.byVersion[v] == nil {
			return nil, fmt.Errorf("rollout.%s.pinnable[%d]: version %q of %s is not loaded (loaded: %s)", name, i, v, name, strings.Join(versions, ", "))
		}
		ps.pinnable[v] = true
	}
	if ps.needBucket {
		for _, e := range ps.order {
			if e.role == rolePinned {
				continue
			}
			i := e.v.Prog.InputIndex(ps.key)
			if i < 0 {
				return nil, fmt.Errorf("rollout.%s.key: %s is not an input of version %q (%s); the split hashes it", name, ps.key, e.v.Version, e.v.Path)
			}
			if t := e.v.Prog.Inputs[i].Type; t != vm.TString && t != vm.TInt {
				return nil, fmt.Errorf("rollout.%s.key: %s is a %s input of version %q; the key must be a string or int", name, ps.key, t, e.v.Version)
			}
			e.keyIn = i
		}
	}
	ps.defaultBucket = ps.keyDefaultBucket()
	var vs []string
	for _, e := range ps.order {
		vs = append(vs, e.v.Version)
	}
	ps.versionList = strings.Join(vs, ", ")
	return ps, nil
}

// version returns the Version for a loaded file: the old one when its
// identity is unchanged, else a new one with its models loaded.
func (s *Server) version(cfg *config.Config, l *loaded, oldVersions map[[32]byte]*Version, fresh *[]*Version, now time.Time) (*Version, error) {
	if v := oldVersions[l.identity]; v != nil && v.Path == l.path && (v.modelErr == "" || s.modelLoader == nil) {
		return v, nil // unchanged (a version without its models tries again)
	}
	for _, v := range *fresh {
		if v.identity == l.identity && v.Path == l.path {
			return v, nil
		}
	}
	p := l.prog
	v := &Version{
		Policy: p.Name, Version: p.Version, Prog: p, Path: l.path, Kind: l.kind,
		Digest: hexDigest(l.digest), LoadedAt: now, Warnings: l.warnings,
		identity: l.identity, deps: l.deps,
	}
	if len(p.Models) > 0 {
		if s.modelLoader == nil {
			v.modelErr = "this riskd has no model runtime: model calls use the policy's on_error values (degraded)"
		} else {
			ms, err := s.modelLoader(p, l.path)
			switch {
			case errors.Is(err, ErrNoModelRuntime):
				// Serve the policy on its on_error values, degraded and
				// not ready, rather than not at all (docs/MODELS.md).
				v.modelErr = err.Error() + "; model calls use the policy's on_error values (degraded)"
			case err != nil:
				return nil, fmt.Errorf("%s: models: %w", l.path, err)
			default:
				v.models, v.runner = ms, ms
			}
		}
	}
	if len(p.Lookups) > 0 {
		ls, err := newLookupSet(p, v.Digest[min(len(v.Digest), 7):min(len(v.Digest), 19)], cfg.Lookups, s.metrics.reg)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
		v.lookups = ls
	}
	v.serve.init(v)
	*fresh = append(*fresh, v)
	return v, nil
}

// close releases the version's models.
func (v *Version) close() {
	if v.models != nil {
		v.models.Close()
	}
	if v.lookups != nil {
		v.lookups.shutdown()
	}
}

// watchList is every file a reload depends on: policy files and
// directories, list and model files, and the config file.
func watchList(cfg *config.Config, sn *snapshot) []string {
	set := map[string]bool{}
	if cfg.Path != "" {
		set[cfg.Path] = true
	}
	for _, p := range cfg.Policies {
		set[p.Path] = true
	}
	for _, v := range sn.versions {
		for _, d := range v.deps {
			set[d] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// acquire returns the current snapshot, counted as in use until release.
// The re-check closes the window in which a reload could swap the
// snapshot and find it unused between our load and our increment.
func (s *Server) acquire() *snapshot {
	for {
		sn := s.snap.Load()
		sn.refs.Add(1)
		if s.snap.Load() == sn {
			return sn
		}
		sn.refs.Add(-1)
	}
}

func (sn *snapshot) release() { sn.refs.Add(-1) }

// install swaps sn in and retires old: once no request uses old any
// more, the models of versions sn does not keep are closed and their
// metric series deleted.
func (s *Server) install(sn, old *snapshot) {
	sn.gen = s.gen.Add(1)
	s.snap.Store(sn)
	s.publishRollout(sn)
	if old == nil {
		return
	}
	keep := map[*Version]bool{}
	labels := map[[2]string]bool{}
	for _, v := range sn.versions {
		keep[v] = true
		labels[[2]string{v.Policy, v.Version}] = true
	}
	var retired []*Version
	for _, v := range old.versions {
		if !keep[v] {
			retired = append(retired, v)
		}
	}
	if len(retired) == 0 {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		deadline := time.Now().Add(s.cfg().Limits.RequestTimeout.D()*4 + time.Minute)
		for old.refs.Load() > 0 {
			if time.Now().After(deadline) {
				s.log.Error("requests still hold an unloaded policy version; its models stay open", "generation", old.gen)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, v := range retired {
			v.close()
			if !labels[[2]string{v.Policy, v.Version}] {
				s.metrics.forget(v.Policy, v.Version)
			}
			s.log.Info("policy version unloaded", "policy", v.Policy, "version", v.Version, "path", v.Path)
		}
	}()
}

// publishRollout sets the info and rollout gauges for sn.
func (s *Server) publishRollout(sn *snapshot) {
	s.metrics.policyInfo.Reset()
	s.metrics.rolloutPercent.Reset()
	for _, name := range sn.names {
		for _, e := range sn.policies[name].order {
			s.metrics.policyInfo.WithLabelValues(name, e.v.Version, e.role.String(), e.v.Digest).Set(1)
			s.metrics.rolloutPercent.WithLabelValues(name, e.v.Version, e.role.String()).Set(e.percent)
		}
	}
}
