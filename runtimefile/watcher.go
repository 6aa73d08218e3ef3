package runtimefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults of WatcherOptions, the Genkit CLI's values.
const (
	DefaultRetryInterval = 500 * time.Millisecond
	DefaultMaxAttempts   = 10
)

// EventKind says what happened to a runtime file.
type EventKind int

// Kinds of Event.
const (
	// Added reports a valid runtime file that is new, or that was rewritten
	// with different content; in the second case it replaces the Info of
	// the earlier Added for the same path.
	Added EventKind = iota + 1
	// Removed reports that a runtime file reported as Added is gone (or,
	// with health checks on, that its rewritten content is unhealthy).
	Removed
)

// String returns "added" or "removed".
func (k EventKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change to the runtimes directory.
type Event struct {
	// Kind is Added or Removed.
	Kind EventKind
	// Path is the absolute path of the runtime file.
	Path string
	// Info is the file's content for Added, and the content last reported
	// as Added for Removed. ProjectName is set.
	Info Info
}

// WatcherOptions configures a Watcher.
type WatcherOptions struct {
	// OnEvent receives the events. It is required. Run calls it from its
	// own goroutine, one event at a time, never after Run has returned;
	// Run waits while it runs, so it should be quick.
	OnEvent func(Event)
	// RetryInterval is the wait before reading again a file that could not
	// be read or parsed, as when it is partly written. If zero,
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// MaxAttempts is how many reads of such a file are made before it is
	// ignored until it changes again. If zero, DefaultMaxAttempts.
	MaxAttempts int
	// CheckHealth, if true, reports a runtime as Added only once it
	// answers CheckHealth. An unhealthy runtime is logged and not reported;
	// unlike the CLI, the Watcher does not delete its file.
	CheckHealth bool
	// HTTPClient makes health checks. If nil, http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives diagnostics, such as files that stay invalid. If nil,
	// nothing is logged.
	Logger *slog.Logger
}

// Watcher reports the runtime files of one project as they appear, change
// and disappear. It considers the files of [Dir](root) whose names end in
// ".json" and do not begin with '.', so temporary files and other files are
// ignored. Create one with NewWatcher and call Run.
type Watcher struct {
	dir         string
	onEvent     func(Event)
	retry       time.Duration
	maxAttempts int
	checkHealth bool
	client      *http.Client
	logger      *slog.Logger
}

// NewWatcher returns a Watcher of the runtimes directory of the project at
// root. opts must be non-nil with OnEvent set. NewWatcher does not touch the
// file system; Run does.
func NewWatcher(root string, opts *WatcherOptions) (*Watcher, error) {
	if opts == nil || opts.OnEvent == nil {
		return nil, errors.New("runtimefile: NewWatcher: WatcherOptions.OnEvent is required")
	}
	if opts.RetryInterval < 0 || opts.MaxAttempts < 0 {
		return nil, errors.New("runtimefile: NewWatcher: negative RetryInterval or MaxAttempts")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("runtimefile: NewWatcher: %w", err)
	}
	w := &Watcher{
		dir:         Dir(abs),
		onEvent:     opts.OnEvent,
		retry:       opts.RetryInterval,
		maxAttempts: opts.MaxAttempts,
		checkHealth: opts.CheckHealth,
		client:      opts.HTTPClient,
		logger:      opts.Logger,
	}
	if w.retry == 0 {
		w.retry = DefaultRetryInterval
	}
	if w.maxAttempts == 0 {
		w.maxAttempts = DefaultMaxAttempts
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

// Dir returns the absolute path of the watched directory.
func (w *Watcher) Dir() string { return w.dir }

// Run watches the directory until ctx is done, then returns nil. It creates
// the directory if it is missing, reports as Added the runtime files already
// there, and then reports changes. A file that cannot be read or parsed,
// such as one still being written, is read again every RetryInterval up to
// MaxAttempts times, and again whenever it changes. If the directory itself
// is removed, its runtimes are reported Removed and, after RetryInterval,
// Run creates and watches it again, retrying every RetryInterval until it
// can. Run returns an error
// if the directory cannot be created or watched at start.
//
// Every call of Run watches on its own and reports the directory's content
// afresh. No goroutine that Run starts outlives it.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("runtimefile: watch %s: %w", w.dir, err)
	}
	defer fw.Close()

	// hctx bounds the health checks; it ends when Run returns.
	hctx, cancel := context.WithCancel(ctx)
	s := &session{
		w:       w,
		fw:      fw,
		files:   make(map[string]*fileState),
		results: make(chan healthResult),
		timer:   time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	defer func() {
		cancel()
		s.health.Wait()
	}()

	if err := s.watch(); err != nil {
		return err
	}
	for {
		s.startChecks(hctx)
		s.armTimer()
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return fmt.Errorf("runtimefile: watch %s: event stream closed", w.dir)
			}
			s.handle(ev)
		case err, ok := <-fw.Errors:
			if !ok {
				return fmt.Errorf("runtimefile: watch %s: error stream closed", w.dir)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.logger.Warn("runtimefile: events lost; rescanning", "dir", w.dir)
				if err := s.rescan(); err != nil {
					w.logger.Error("runtimefile: rescan failed", "dir", w.dir, "err", err)
				}
				continue
			}
			w.logger.Error("runtimefile: watch error", "dir", w.dir, "err", err)
		case <-s.timer.C:
			s.retryDue(time.Now())
		case r := <-s.results:
			s.healthDone(r)
		}
	}
}

// session is the state of one Run. Only Run's goroutine uses it, except
// for health and results, which health-check goroutines use too.
type session struct {
	w       *Watcher
	fw      *fsnotify.Watcher
	files   map[string]*fileState
	lastGen uint64
	// rewatchAt is when to watch the removed directory again; zero if it
	// is watched.
	rewatchAt time.Time
	timer     *time.Timer // fires at the earliest due retry
	results   chan healthResult
	health    sync.WaitGroup // health-check goroutines
	// checks are the health checks to start, queued by read; Run starts
	// them in its context after each event.
	checks []healthResult
}

// fileState is what a session knows of one path.
type fileState struct {
	reported bool      // an Added with info was the last event for the path
	info     Info      // last reported
	attempts int       // failed reads since the file last changed
	due      time.Time // when to read again; zero if no retry is pending
	gen      uint64    // identifies the latest change; older health results are dropped
}

// healthResult is the outcome of a health check of one version of a file.
type healthResult struct {
	path string
	gen  uint64
	info Info
	err  error
}

// watch creates and watches the directory, then scans it.
func (s *session) watch() error {
	if err := os.MkdirAll(s.w.dir, 0o755); err != nil {
		return fmt.Errorf("runtimefile: watch %s: %w", s.w.dir, err)
	}
	if err := s.fw.Add(s.w.dir); err != nil {
		return fmt.Errorf("runtimefile: watch %s: %w", s.w.dir, err)
	}
	if err := s.rescan(); err != nil {
		return fmt.Errorf("runtimefile: watch %s: %w", s.w.dir, err)
	}
	s.w.logger.Debug("runtimefile: watching runtimes directory", "dir", s.w.dir)
	return nil
}

// rescan reads every runtime file in the directory and reports as Removed
// the known ones that are gone.
func (s *session) rescan() error {
	entries, err := os.ReadDir(s.w.dir)
	if err != nil {
		return err
	}
	present := make(map[string]bool)
	for _, e := range entries {
		if e.IsDir() || !isRuntimeFileName(e.Name()) {
			continue
		}
		path := filepath.Join(s.w.dir, e.Name())
		present[path] = true
		s.changed(path)
	}
	for _, path := range slices.Sorted(maps.Keys(s.files)) {
		if !present[path] {
			s.gone(path)
		}
	}
	return nil
}

// handle acts on one file system event.
func (s *session) handle(ev fsnotify.Event) {
	if ev.Name == s.w.dir {
		if !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
			return
		}
		s.w.logger.Warn("runtimefile: runtimes directory removed; watching it anew", "dir", s.w.dir)
		for _, path := range slices.Sorted(maps.Keys(s.files)) {
			s.gone(path)
		}
		// The watch may already be gone with the directory.
		if err := s.fw.Remove(s.w.dir); err != nil {
			s.w.logger.Debug("runtimefile: unwatch", "dir", s.w.dir, "err", err)
		}
		// Wait a little before creating it again, so as not to get in the
		// way of a recursive removal of its parent.
		s.rewatchAt = time.Now().Add(s.w.retry)
		return
	}
	if filepath.Dir(ev.Name) != s.w.dir || !isRuntimeFileName(filepath.Base(ev.Name)) {
		return
	}
	switch {
	case ev.Has(fsnotify.Remove), ev.Has(fsnotify.Rename):
		s.gone(ev.Name)
	case ev.Has(fsnotify.Create), ev.Has(fsnotify.Write):
		s.changed(ev.Name)
	}
}

// rewatch watches the directory again after it was removed. If that fails,
// as when the directory's parent is being removed too, it tries again after
// the retry interval.
func (s *session) rewatch() {
	s.rewatchAt = time.Time{}
	if err := s.watch(); err != nil {
		s.w.logger.Warn("runtimefile: cannot watch runtimes directory; retrying", "dir", s.w.dir, "err", err)
		s.rewatchAt = time.Now().Add(s.w.retry)
	}
}

// changed reads a file that may have changed.
func (s *session) changed(path string) {
	st := s.files[path]
	if st == nil {
		st = &fileState{}
		s.files[path] = st
	}
	s.lastGen++
	st.gen = s.lastGen
	st.attempts = 0
	st.due = time.Time{}
	s.read(path, st)
}

// read reads and parses a file, then reports it, checks its health, or
// schedules another read.
func (s *session) read(path string, st *fileState) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.gone(path)
		return
	}
	var info Info
	if err == nil {
		info, err = Parse(data)
	}
	if err != nil {
		st.attempts++
		if st.attempts >= s.w.maxAttempts {
			s.w.logger.Warn("runtimefile: giving up on runtime file", "path", path, "attempts", st.attempts, "err", err)
			st.attempts = 0
			return
		}
		s.w.logger.Debug("runtimefile: runtime file not ready; retrying", "path", path, "attempt", st.attempts, "err", err)
		st.due = time.Now().Add(s.w.retry)
		return
	}
	st.attempts = 0
	info.ProjectName = projectName(path)
	if st.reported && st.info.equal(info) {
		return
	}
	if !s.w.checkHealth {
		s.report(path, st, info)
		return
	}
	s.checks = append(s.checks, healthResult{path: path, gen: st.gen, info: info})
}

// startChecks starts the queued health checks, each on a goroutine bounded
// by ctx.
func (s *session) startChecks(ctx context.Context) {
	for _, r := range s.checks {
		s.health.Go(func() {
			r.err = CheckHealth(ctx, s.w.client, r.info)
			select {
			case s.results <- r:
			case <-ctx.Done():
			}
		})
	}
	s.checks = s.checks[:0]
}

// healthDone acts on a health check's outcome, unless the file has changed
// since.
func (s *session) healthDone(r healthResult) {
	st := s.files[r.path]
	if st == nil || st.gen != r.gen {
		return
	}
	if r.err != nil {
		s.w.logger.Info("runtimefile: runtime unhealthy; not reported", "path", r.path, "id", r.info.ID, "err", r.err)
		if st.reported {
			st.reported = false
			s.w.onEvent(Event{Kind: Removed, Path: r.path, Info: st.info})
		}
		return
	}
	s.report(r.path, st, r.info)
}

// report records info as the path's content and reports it Added.
func (s *session) report(path string, st *fileState, info Info) {
	st.reported = true
	st.info = info
	s.w.onEvent(Event{Kind: Added, Path: path, Info: info})
}

// gone forgets a path, reporting it Removed if it was reported Added.
func (s *session) gone(path string) {
	st := s.files[path]
	if st == nil {
		return
	}
	delete(s.files, path)
	if st.reported {
		s.w.onEvent(Event{Kind: Removed, Path: path, Info: st.info})
	}
}

// retryDue watches the directory again or reads again the files, if due
// at now.
func (s *session) retryDue(now time.Time) {
	if !s.rewatchAt.IsZero() {
		if !s.rewatchAt.After(now) {
			s.rewatch()
		}
		return // files are read again by the rescan of a successful rewatch
	}
	for _, path := range slices.Sorted(maps.Keys(s.files)) {
		st := s.files[path]
		if st == nil || st.due.IsZero() || st.due.After(now) {
			continue
		}
		st.due = time.Time{}
		s.read(path, st)
	}
}

// armTimer sets the timer for the earliest pending retry, or stops it.
func (s *session) armTimer() {
	next := s.rewatchAt
	for _, st := range s.files {
		if !st.due.IsZero() && (next.IsZero() || st.due.Before(next)) {
			next = st.due
		}
	}
	if next.IsZero() {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(time.Until(next), 0))
}
