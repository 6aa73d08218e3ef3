package runtimefile_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// waitFor bounds every wait for a watcher event or log record.
const waitFor = 10 * time.Second

// logRecord is the part of a slog record the tests look at.
type logRecord struct {
	msg  string
	path string
}

// logRecorder is a slog.Handler that passes records to a channel.
type logRecorder struct {
	ctx     context.Context
	records chan logRecord
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "path" {
			rec.path = a.Value.String()
		}
		return true
	})
	select {
	case h.records <- rec:
	case <-h.ctx.Done():
	}
	return nil
}

// watch is a running Watcher under test.
type watch struct {
	root   string
	events chan runtimefile.Event
	logs   chan logRecord
}

// startWatcher runs a Watcher of root until the test ends. opts.OnEvent and
// opts.Logger are set by startWatcher.
func startWatcher(t *testing.T, root string, opts runtimefile.WatcherOptions) *watch {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watch{root: root, events: make(chan runtimefile.Event, 100), logs: make(chan logRecord, 1000)}
	opts.OnEvent = func(e runtimefile.Event) {
		select {
		case w.events <- e:
		case <-ctx.Done():
		}
	}
	opts.Logger = slog.New(&logRecorder{ctx: ctx, records: w.logs})
	rw, err := runtimefile.NewWatcher(root, &opts)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- rw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// next returns the next event.
func (w *watch) next(t *testing.T) runtimefile.Event {
	t.Helper()
	select {
	case e := <-w.events:
		return e
	case <-time.After(waitFor):
		t.Fatal("no watcher event")
		return runtimefile.Event{}
	}
}

// expect checks that the next event is want.
func (w *watch) expect(t *testing.T, want runtimefile.Event) {
	t.Helper()
	if diff := cmp.Diff(want, w.next(t)); diff != "" {
		t.Fatalf("event mismatch (-want +got):\n%s", diff)
	}
}

// waitLog waits for a log record with the message and path.
func (w *watch) waitLog(t *testing.T, msg, path string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case r := <-w.logs:
			if r.msg == msg && r.path == path {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q for %s", msg, path)
		}
	}
}

// added and removed build expected events.
func added(path string, info runtimefile.Info) runtimefile.Event {
	return runtimefile.Event{Kind: runtimefile.Added, Path: path, Info: info}
}

func removed(path string, info runtimefile.Info) runtimefile.Event {
	return runtimefile.Event{Kind: runtimefile.Removed, Path: path, Info: info}
}

// writeJSON writes info to dir/name without Write's atomic rename.
func writeJSON(t *testing.T, dir, name string, info runtimefile.Info) (string, runtimefile.Info) {
	t.Helper()
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info.ProjectName = filepath.Base(filepath.Dir(filepath.Dir(dir)))
	return path, info
}

func TestWatcherLifecycle(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	pre, err := runtimefile.Write(root, testInfo("1-3100", 1))
	if err != nil {
		t.Fatal(err)
	}

	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 10 * time.Millisecond})
	w.expect(t, added(pre.Path(), pre.Info()))

	// A new file, written atomically.
	second := testInfo("2-3101", 2)
	second.Timestamp = second.Timestamp.Add(time.Second)
	f2, err := runtimefile.Write(root, second)
	if err != nil {
		t.Fatal(err)
	}
	w.expect(t, added(f2.Path(), f2.Info()))

	// Rewritten in place with new content.
	rewritten := testInfo("2-3101", 2)
	rewritten.ReflectionServerURL = "http://127.0.0.1:3999"
	_, rewrittenInfo := writeJSON(t, runtimefile.Dir(root), filepath.Base(f2.Path()), rewritten)
	w.expect(t, added(f2.Path(), rewrittenInfo))

	// Removal reports the last known content.
	if err := f2.Remove(); err != nil {
		t.Fatal(err)
	}
	w.expect(t, removed(f2.Path(), rewrittenInfo))
	if err := pre.Remove(); err != nil {
		t.Fatal(err)
	}
	w.expect(t, removed(pre.Path(), pre.Info()))
}

func TestWatcherCreatesDir(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "fresh")
	w := startWatcher(t, root, runtimefile.WatcherOptions{})
	f, err := runtimefile.Write(root, testInfo("1", 1))
	if err != nil {
		t.Fatal(err)
	}
	// Whether Run had created the directory or Write did, the file is seen.
	w.expect(t, added(f.Path(), f.Info()))
	if st, err := os.Stat(runtimefile.Dir(root)); err != nil || !st.IsDir() {
		t.Errorf("runtimes directory: %v", err)
	}
}

func TestWatcherIgnoresOtherFiles(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	dir := runtimefile.Dir(root)
	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 10 * time.Millisecond})

	// Valid content under names the Watcher must ignore, written first so
	// that their events would come before the one expected.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notes.txt", ".hidden.json", "x.json.tmp", "x.json~"} {
		writeJSON(t, dir, name, testInfo("ignored-"+name, 9))
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "sub"), "nested.json", testInfo("nested", 9))

	path, info := writeJSON(t, dir, "real.json", testInfo("real", 1))
	w.expect(t, added(path, info))
}

func TestWatcherPartialThenComplete(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	dir := runtimefile.Dir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 5 * time.Millisecond, MaxAttempts: 1_000_000})

	info := testInfo("slow", 5)
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "slow.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// The watcher has read the half file and is retrying.
	w.waitLog(t, "runtimefile: runtime file not ready; retrying", path)
	if _, err := f.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	info.ProjectName = "app"
	w.expect(t, added(path, info))
}

func TestWatcherPreexistingPartialFile(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	dir := runtimefile.Dir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.json")
	if err := os.WriteFile(path, []byte(`{"id":"p","pid":`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 5 * time.Millisecond, MaxAttempts: 3})
	// Read at start, then twice more on the timer.
	w.waitLog(t, "runtimefile: giving up on runtime file", path)

	// A change brings it back into consideration.
	_, info := writeJSON(t, dir, "p.json", testInfo("p", 3))
	w.expect(t, added(path, info))
}

func TestWatcherGivesUpOnInvalidFile(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	dir := runtimefile.Dir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 5 * time.Millisecond, MaxAttempts: 3})
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":7,"pid":1,"reflectionServerUrl":"u","timestamp":"2026"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitLog(t, "runtimefile: giving up on runtime file", bad)
	// Removing a file never reported gives no event.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	path, info := writeJSON(t, dir, "good.json", testInfo("good", 1))
	w.expect(t, added(path, info))
}

func TestWatcherDirRemoved(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	f, err := runtimefile.Write(root, testInfo("1", 1))
	if err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, root, runtimefile.WatcherOptions{RetryInterval: 10 * time.Millisecond})
	w.expect(t, added(f.Path(), f.Info()))

	if err := os.RemoveAll(runtimefile.Dir(root)); err != nil {
		t.Fatal(err)
	}
	w.expect(t, removed(f.Path(), f.Info()))

	// The Watcher creates the directory again and watches it.
	w.waitLog(t, "runtimefile: runtimes directory removed; watching it anew", "")
	w.waitLog(t, "runtimefile: watching runtimes directory", "")
	path, info := writeJSON(t, runtimefile.Dir(root), "again.json", testInfo("2", 2))
	w.expect(t, added(path, info))
}

func TestWatcherHealth(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	healthySrv := runtimeServer(t, "ok", true)
	sickSrv := runtimeServer(t, "sick", false)
	w := startWatcher(t, root, runtimefile.WatcherOptions{CheckHealth: true, HTTPClient: healthySrv.Client()})

	sick := testInfo("sick", 2)
	sick.ReflectionServerURL = sickSrv.URL
	fs, err := runtimefile.Write(root, sick)
	if err != nil {
		t.Fatal(err)
	}
	w.waitLog(t, "runtimefile: runtime unhealthy; not reported", fs.Path())

	ok := testInfo("ok", 1)
	ok.ReflectionServerURL = healthySrv.URL
	fo, err := runtimefile.Write(root, ok)
	if err != nil {
		t.Fatal(err)
	}
	// The first event is the healthy runtime's, though the unhealthy one was written first.
	w.expect(t, added(fo.Path(), fo.Info()))

	// Rewriting a reported runtime's file with an unhealthy one reports it removed.
	bad := ok
	bad.ReflectionServerURL = sickSrv.URL
	writeJSON(t, runtimefile.Dir(root), filepath.Base(fo.Path()), bad)
	w.expect(t, removed(fo.Path(), fo.Info()))
}

func TestWatcherConcurrentRuns(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "app")
	f, err := runtimefile.Write(root, testInfo("1", 1))
	if err != nil {
		t.Fatal(err)
	}
	a := startWatcher(t, root, runtimefile.WatcherOptions{})
	b := startWatcher(t, root, runtimefile.WatcherOptions{})
	var wg sync.WaitGroup
	for _, w := range []*watch{a, b} {
		wg.Go(func() {
			select {
			case e := <-w.events:
				if diff := cmp.Diff(added(f.Path(), f.Info()), e); diff != "" {
					t.Errorf("event mismatch (-want +got):\n%s", diff)
				}
			case <-time.After(waitFor):
				t.Error("no watcher event")
			}
		})
	}
	wg.Wait()
}

func TestNewWatcherOptions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]*runtimefile.WatcherOptions{
		"nil options":    nil,
		"no OnEvent":     {},
		"negative retry": {OnEvent: func(runtimefile.Event) {}, RetryInterval: -1},
	} {
		if _, err := runtimefile.NewWatcher(t.TempDir(), opts); err == nil {
			t.Errorf("%s: NewWatcher succeeded, want an error", name)
		}
	}
}

func TestRunReturnsWhenContextDone(t *testing.T) {
	t.Parallel()
	w, err := runtimefile.NewWatcher(t.TempDir(), &runtimefile.WatcherOptions{OnEvent: func(runtimefile.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
