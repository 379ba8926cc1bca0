package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchHealth is the state of the file watch, for /readyz and metrics.
type watchHealth struct {
	ok     bool
	detail string
}

// watchCheckInterval is how often the watcher verifies that each watched
// directory is still the one at its path (inotify follows a renamed or
// deleted directory, not the path).
const watchCheckInterval = time.Second

// watcher holds what the watch loop reacts to.
type watcher struct {
	s          *Server
	w          *fsnotify.Watcher
	files      map[string]bool        // files whose change matters
	dirs       map[string]bool        // directories holding them (and policy directories)
	policyDirs map[string]bool        // any .risk/.rbc appearing in them matters
	parents    map[string]bool        // parents of dirs: a dir replaced there matters
	watched    map[string]os.FileInfo // directories added to w, with their identity
}

// startWatch registers the watches; run then reloads when a file the snapshot depends on changes: the config
// file, policy files (and new .risk/.rbc files in policy directories),
// list files and model files. Directories are watched rather than files
// so that editors that write a new file and rename it over the old one,
// and Kubernetes ConfigMap updates (a ..data symlink swap), are seen; the
// parents of those directories are watched too, and every second each
// directory is checked to still be the one at its path, so that a deploy
// that replaces the whole directory (mv dir dir.old && mv dir.new dir, or
// rm -rf and recreate) is followed. A directory that cannot be watched
// is reported in /readyz, the log and riskforge_watch_ok.
// Bursts of events are coalesced for reload.debounce.
func (s *Server) startWatch() *watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.setWatchHealth(false, "cannot create a watcher: "+err.Error())
		s.log.Error("file watching is off: cannot create a watcher; POST /v1/admin/reload still works", "err", err.Error())
		return nil
	}
	wt := &watcher{s: s, w: w, files: map[string]bool{}, dirs: map[string]bool{}, policyDirs: map[string]bool{},
		parents: map[string]bool{}, watched: map[string]os.FileInfo{}}
	wt.refresh()
	return wt
}

// run reacts to file events until ctx ends or the server stops.
func (wt *watcher) run(ctx context.Context) {
	s, w := wt.s, wt.w
	defer w.Close()
	debounce := s.start.Reload.Debounce.D()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	check := time.NewTicker(watchCheckInterval)
	defer check.Stop()
	pending := false
	trigger := func() { pending = true; timer.Reset(debounce) }
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if wt.relevant(ev) {
				s.log.Debug("file changed", "file", ev.Name, "op", ev.Op.String())
				trigger()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn("file watcher error", "err", err.Error())
		case <-check.C:
			if wt.refresh() {
				trigger()
			}
		case <-timer.C:
			if !pending {
				continue
			}
			pending = false
			s.Reload("watch")
			if wt.refresh() {
				// A directory was watched anew after the reload read it:
				// read it again, in case it changed in between.
				trigger()
			}
		}
	}
}

// refresh recomputes what to watch from the current snapshot, re-adds
// directories that were replaced or reappeared, and updates the watch
// health. It reports whether a directory was replaced (a reload is due).
func (wt *watcher) refresh() bool {
	sn := wt.s.snap.Load()
	clear(wt.files)
	clear(wt.policyDirs)
	clear(wt.dirs)
	clear(wt.parents)
	for _, p := range sn.watch {
		if st, err := os.Stat(p); err == nil && st.IsDir() || wt.isPolicyDir(sn, p) {
			wt.policyDirs[p] = true
			wt.dirs[p] = true
			continue
		}
		wt.files[p] = true
		wt.dirs[filepath.Dir(p)] = true
	}
	for d := range wt.dirs {
		wt.parents[filepath.Dir(d)] = true
	}
	want := map[string]bool{}
	for d := range wt.dirs {
		want[d] = true
	}
	for d := range wt.parents {
		want[d] = true
	}
	for d := range wt.watched {
		if !want[d] {
			wt.w.Remove(d)
			delete(wt.watched, d)
		}
	}
	replaced := false
	var lost []string
	for d := range want {
		st, err := os.Stat(d)
		if err != nil {
			if prev, ok := wt.watched[d]; ok && prev != nil {
				wt.w.Remove(d)
				replaced = true // gone: a reload reports what is missing
			}
			wt.watched[d] = nil
			if wt.dirs[d] {
				lost = append(lost, fmt.Sprintf("%s: %v", d, err))
			}
			continue
		}
		if prev, ok := wt.watched[d]; ok && prev != nil && os.SameFile(prev, st) {
			continue
		}
		if prev, ok := wt.watched[d]; ok {
			wt.w.Remove(d) // replaced by another directory, or back
			replaced = replaced || prev != nil || wt.dirs[d]
		}
		if err := wt.w.Add(d); err != nil {
			wt.watched[d] = nil
			if wt.dirs[d] {
				lost = append(lost, fmt.Sprintf("%s: %v", d, err))
			}
			continue
		}
		wt.watched[d] = st
	}
	wt.report(lost)
	return replaced
}

// isPolicyDir reports whether p is a configured policy directory (which
// may be missing right now, between a delete and its re-creation).
func (wt *watcher) isPolicyDir(sn *snapshot, p string) bool {
	for _, e := range sn.cfg.Policies {
		if e.Path == p && filepath.Ext(p) != ".risk" && filepath.Ext(p) != ".rbc" {
			return true
		}
	}
	return false
}

// report updates the watch health, logging changes.
func (wt *watcher) report(lost []string) {
	s := wt.s
	sort.Strings(lost)
	was := s.watchHealth.Load()
	if len(lost) > 0 {
		detail := "not watching " + strings.Join(lost, "; ") + ": changes there are not picked up until the directory is back"
		if was == nil || was.detail != detail {
			s.log.Error("file watch lost; reloads from these directories stop until they reappear (POST /v1/admin/reload still works)", "dirs", lost)
		}
		s.setWatchHealth(false, detail)
		return
	}
	if was != nil && !was.ok {
		s.log.Info("file watch restored")
	}
	s.setWatchHealth(true, fmt.Sprintf("watching %d directories", len(wt.dirs)))
}

func (s *Server) setWatchHealth(ok bool, detail string) {
	s.watchHealth.Store(&watchHealth{ok: ok, detail: detail})
}

// relevant reports whether an event concerns a file or directory the
// snapshot depends on.
func (wt *watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Clean(ev.Name)
	if wt.files[name] {
		return true
	}
	if wt.dirs[name] {
		return true // a watched directory itself was moved, removed or recreated
	}
	dir, base := filepath.Split(name)
	dir = filepath.Clean(dir)
	if strings.HasPrefix(base, "..") && wt.dirs[dir] {
		return true // ConfigMap-style symlink swap
	}
	ext := filepath.Ext(base)
	return wt.policyDirs[dir] && (ext == ".risk" || ext == ".rbc") && !strings.HasPrefix(base, ".")
}
