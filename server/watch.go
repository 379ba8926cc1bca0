package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch reloads when a file the snapshot depends on changes: the config
// file, policy files (and new .risk/.rbc files in policy directories),
// list files and model files. Directories are watched rather than files
// so that editors that write a new file and rename it over the old one,
// and Kubernetes ConfigMap updates (a ..data symlink swap), are seen.
// Bursts of events are coalesced for reload.debounce.
func (s *Server) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Error("file watching is off: cannot create a watcher; POST /v1/admin/reload still works", "err", err.Error())
		return
	}
	defer w.Close()
	files, dirs := map[string]bool{}, map[string]bool{} // what we react to
	policyDirs := map[string]bool{}                     // any .risk/.rbc in them
	watched := map[string]bool{}                        // directories added to w
	refresh := func() {
		sn := s.snap.Load()
		clear(files)
		clear(policyDirs)
		clear(dirs)
		for _, p := range sn.watch {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				policyDirs[p] = true
				dirs[p] = true
				continue
			}
			files[p] = true
			dirs[filepath.Dir(p)] = true
		}
		for d := range watched {
			if !dirs[d] {
				w.Remove(d)
				delete(watched, d)
			}
		}
		for d := range dirs {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				s.log.Warn("cannot watch a directory; changes in it need POST /v1/admin/reload", "dir", d, "err", err.Error())
				continue
			}
			watched[d] = true
		}
	}
	refresh()
	relevant := func(ev fsnotify.Event) bool {
		if ev.Op == fsnotify.Chmod {
			return false
		}
		name := filepath.Clean(ev.Name)
		if files[name] {
			return true
		}
		dir, base := filepath.Split(name)
		dir = filepath.Clean(dir)
		if strings.HasPrefix(base, "..") && dirs[dir] {
			return true // ConfigMap-style symlink swap
		}
		ext := filepath.Ext(base)
		return policyDirs[dir] && (ext == ".risk" || ext == ".rbc") && !strings.HasPrefix(base, ".")
	}
	debounce := s.start.Reload.Debounce.D()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
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
			if relevant(ev) {
				s.log.Debug("file changed", "file", ev.Name, "op", ev.Op.String())
				pending = true
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn("file watcher error", "err", err.Error())
		case <-timer.C:
			if !pending {
				continue
			}
			pending = false
			s.Reload("watch")
			refresh()
		}
	}
}
