package dap_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// echoTool returns a tool action named name that returns its input.
func echoTool(t testing.TB, name string) *registry.Action {
	t.Helper()
	a, err := registry.NewAction(registry.Descriptor{
		Type: "tool", Name: name, Description: "tool " + name,
		InputSchema: &jsonschema.Schema{Type: "object"},
		Metadata:    map[string]any{"type": "tool", "dynamic": true},
	}, func(ctx context.Context, req *registry.Request) (any, error) { return req.Input, nil })
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// countingFetch returns a fetch function providing tools named names and
// the counter of its calls.
func countingFetch(t testing.TB, names ...string) (dap.FetchFunc, *atomic.Int32) {
	var n atomic.Int32
	var tools []*registry.Action
	for _, name := range names {
		tools = append(tools, echoTool(t, name))
	}
	return func(ctx context.Context) (dap.Actions, error) {
		n.Add(1)
		return dap.Actions{"tool": tools}, nil
	}, &n
}

func keysOf(ds []registry.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key)
	}
	return out
}

func TestCacheTTL(t *testing.T) {
	type step struct {
		advance     time.Duration
		wantFetches int32
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		steps []step
	}{
		{name: "zero means three seconds", ttl: 0, steps: []step{
			{0, 1}, {2 * time.Second, 1}, {time.Second, 1}, {time.Millisecond, 2}, {time.Second, 2},
		}},
		{name: "positive", ttl: 10 * time.Second, steps: []step{
			{0, 1}, {9 * time.Second, 1}, {time.Second + time.Millisecond, 2}, {5 * time.Second, 2},
		}},
		{name: "negative disables caching", ttl: -1, steps: []step{
			{0, 1}, {0, 2}, {time.Millisecond, 3}, {0, 4},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			fetch, n := countingFetch(t, "a")
			p, err := dap.New("p", fetch, &dap.Options{TTL: tc.ttl, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				if _, err := p.ListActions(t.Context()); err != nil {
					t.Fatal(err)
				}
				if got := n.Load(); got != s.wantFetches {
					t.Errorf("step %d: %d fetches, want %d", i, got, s.wantFetches)
				}
			}
		})
	}
}

func TestInvalidate(t *testing.T) {
	fetch, n := countingFetch(t, "a")
	p, err := dap.New("p", fetch, &dap.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.ListActions(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	p.Invalidate()
	if _, err := p.ListActions(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
}

func TestConcurrentListingsShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var n atomic.Int32
		tool := echoTool(t, "a")
		p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
			n.Add(1)
			<-release
			return dap.Actions{"tool": {tool}}, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		const callers = 50
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				ds, err := p.ListActions(t.Context())
				if err == nil && len(ds) != 1 {
					err = errors.New("wrong listing")
				}
				errs <- err
			})
		}
		synctest.Wait() // every caller is now the fetcher or waiting on it
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := n.Load(); got != 1 {
			t.Errorf("%d fetches for %d concurrent listings, want 1", got, callers)
		}
	})
}

func TestWaiterHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		fetch, _ := countingFetch(t, "a")
		p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
			<-release
			return fetch(ctx)
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaderDone := make(chan error)
		go func() {
			_, err := p.ListActions(t.Context())
			leaderDone <- err
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		waiterDone := make(chan error)
		go func() {
			_, err := p.ListActions(ctx)
			waiterDone <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-waiterDone; !errors.Is(err, context.Canceled) {
			t.Errorf("waiter: %v, want context.Canceled", err)
		}
		close(release)
		if err := <-leaderDone; err != nil {
			t.Errorf("leader: %v", err)
		}
	})
}

func TestWaitersRetryWhenTheFetcherGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var n atomic.Int32
		tool := echoTool(t, "a")
		p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
			n.Add(1)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-release:
				return dap.Actions{"tool": {tool}}, nil
			}
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		leaderDone := make(chan error)
		go func() {
			_, err := p.ListActions(ctx)
			leaderDone <- err
		}()
		synctest.Wait()
		waiterDone := make(chan error)
		go func() {
			_, err := p.ListActions(t.Context())
			waiterDone <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-leaderDone; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled fetcher: %v, want context.Canceled", err)
		}
		synctest.Wait() // the waiter has started its own fetch
		close(release)
		if err := <-waiterDone; err != nil {
			t.Errorf("waiter: %v", err)
		}
		if got := n.Load(); got != 2 {
			t.Errorf("%d fetches, want 2", got)
		}
	})
}

func TestInvalidateDuringFetchIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var n atomic.Int32
		tool := echoTool(t, "a")
		p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
			if n.Add(1) == 1 {
				<-release
			}
			return dap.Actions{"tool": {tool}}, nil
		}, &dap.Options{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, err := p.ListActions(t.Context())
			done <- err
		}()
		synctest.Wait()
		p.Invalidate()
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := p.ListActions(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := n.Load(); got != 2 {
			t.Errorf("%d fetches, want 2: a value fetched before Invalidate must not be cached", got)
		}
	})
}

func TestFailedFetchIsNotCached(t *testing.T) {
	boom := errors.New("boom")
	var n atomic.Int32
	tool := echoTool(t, "a")
	p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
		switch n.Add(1) {
		case 1:
			return nil, boom
		case 2:
			panic("kaboom")
		}
		return dap.Actions{"tool": {tool}}, nil
	}, &dap.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ListActions(t.Context()); !errors.Is(err, boom) {
		t.Errorf("first listing: %v, want %v", err, boom)
	}
	if _, err := p.ListActions(t.Context()); status.CodeOf(err) != status.Internal {
		t.Errorf("panicking fetch: %v, want an INTERNAL error", err)
	}
	for range 2 {
		ds, err := p.ListActions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"/dynamic-action-provider/p:tool/a"}, keysOf(ds)); diff != "" {
			t.Errorf("listing (-want +got):\n%s", diff)
		}
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d fetches, want 3", got)
	}
}

func TestListActions(t *testing.T) {
	multiply := echoTool(t, "multiply")
	p, err := dap.New("p", func(ctx context.Context) (dap.Actions, error) {
		return dap.Actions{
			"tool":     {echoTool(t, "remote/one"), multiply, echoTool(t, "multiply")},
			"resource": {echoTool(t, "r")},
			"empty":    nil,
		}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := p.ListActions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/dynamic-action-provider/p:resource/r",
		"/dynamic-action-provider/p:tool/multiply",
		"/dynamic-action-provider/p:tool/remote/one",
	}
	if diff := cmp.Diff(want, keysOf(ds)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	// Apart from the key, the descriptor is the provided action's own.
	wantDesc := multiply.Descriptor()
	wantDesc.Key = "/dynamic-action-provider/p:tool/multiply"
	if diff := cmp.Diff(wantDesc, ds[1]); diff != "" {
		t.Errorf("descriptor (-want +got):\n%s", diff)
	}
}

func TestInvalidProvidedActions(t *testing.T) {
	tests := []struct {
		name string
		v    dap.Actions
	}{
		{name: "empty type", v: dap.Actions{"": {echoTool(t, "a")}}},
		{name: "type with slash", v: dap.Actions{"a/b": {echoTool(t, "a")}}},
		{name: "name with colon", v: dap.Actions{"tool": {echoTool(t, "a:b")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := dap.New("p", func(context.Context) (dap.Actions, error) { return tc.v, nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.ListActions(t.Context()); status.CodeOf(err) != status.InvalidArgument {
				t.Errorf("ListActions: %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	fetch, _ := countingFetch(t)
	for _, name := range []string{"", "a/b", "a:b"} {
		if _, err := dap.New(name, fetch, nil); err == nil {
			t.Errorf("New(%q) succeeded, want an error", name)
		}
	}
	if _, err := dap.New("p", nil, nil); err == nil {
		t.Error("New with a nil fetch function succeeded, want an error")
	}
}

func TestResolveAction(t *testing.T) {
	fetch, n := countingFetch(t, "t1", "remote/one")
	p, err := dap.New("p", fetch, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key      string
		wantKey  string // "" for no action
		wantCode status.Code
	}{
		{key: "/flow/echo"},
		{key: "/dynamic-action-provider/other:tool/t1"},
		{key: "/dynamic-action-provider/other"},
		{key: "/dynamic-action-providers/p:tool/t1"},
		{key: "/dynamic-action-provider/p", wantKey: "/dynamic-action-provider/p"},
		{key: "/dynamic-action-provider/p:tool/t1", wantKey: "/dynamic-action-provider/p:tool/t1"},
		{key: "/dynamic-action-provider/p:tool/remote/one", wantKey: "/dynamic-action-provider/p:tool/remote/one"},
		{key: "/dynamic-action-provider/p:tool/nope", wantCode: status.NotFound},
		{key: "/dynamic-action-provider/p:model/t1", wantCode: status.NotFound},
		{key: "/dynamic-action-provider/p:tool/*", wantCode: status.NotFound},
		{key: "/dynamic-action-provider/p:tool/t*", wantCode: status.NotFound},
		{key: "/dynamic-action-provider/p:tool/", wantCode: status.InvalidArgument},
		{key: "/dynamic-action-provider/other:tool", wantCode: status.InvalidArgument},
		{key: "/dynamic-action-provider/p:tool/a:b", wantCode: status.InvalidArgument},
		{key: "/dynamic-action-provider", wantCode: status.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			a, err := p.ResolveAction(t.Context(), tc.key)
			if got := status.CodeOf(err); got != tc.wantCode {
				t.Fatalf("ResolveAction(%q) error %v, want code %v", tc.key, err, tc.wantCode)
			}
			var gotKey string
			if a != nil {
				gotKey = a.Key()
			}
			if gotKey != tc.wantKey {
				t.Errorf("ResolveAction(%q) = action %q, want %q", tc.key, gotKey, tc.wantKey)
			}
		})
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d fetches while resolving, want 1 (cached)", got)
	}
}

func TestRunProviderAction(t *testing.T) {
	clk := newClock()
	fetch, n := countingFetch(t, "b", "a")
	p, err := dap.New("p", fetch, &dap.Options{
		Description: "provides tools",
		Metadata:    map[string]any{"owner": "tests", "type": "overridden"},
		Now:         clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Action().Descriptor()
	if diff := cmp.Diff(map[string]any{"owner": "tests", "type": "dynamic-action-provider"}, d.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if d.Key != "/dynamic-action-provider/p" || d.Type != "dynamic-action-provider" || d.Name != "p" || d.Description != "provides tools" {
		t.Errorf("descriptor = %+v", d)
	}
	res, err := p.Action().Run(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(res.Output, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"actionType": "tool", "key": "/dynamic-action-provider/p:tool/a", "name": "a", "description": "tool a",
			"inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool", "dynamic": true}},
		{"actionType": "tool", "key": "/dynamic-action-provider/p:tool/b", "name": "b", "description": "tool b",
			"inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool", "dynamic": true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	// Running the action refreshed the cache.
	if _, err := p.ListActions(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

func TestRegister(t *testing.T) {
	reg := registry.New(nil)
	fetch, _ := countingFetch(t, "a")
	p, err := dap.New("p", fetch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dap.Register(reg, p); err != nil {
		t.Fatal(err)
	}
	var dup *registry.DuplicateError
	if err := dap.Register(reg, p); !errors.As(err, &dup) {
		t.Errorf("second Register: %v, want a *registry.DuplicateError", err)
	}
	a, err := reg.Resolve(t.Context(), "/dynamic-action-provider/p:tool/a")
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Run(t.Context(), &registry.Request{Input: json.RawMessage(`{"x":1}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != `{"x":1}` {
		t.Errorf("output = %s", res.Output)
	}
	if diff := cmp.Diff([]string{"/dynamic-action-provider/p:tool/a"}, keysOf(reg.ListSources(t.Context()))); diff != "" {
		t.Errorf("sources listing (-want +got):\n%s", diff)
	}
}

// TestListVersion checks that ListVersion stays the same while listings
// are served from the cache, grows as soon as the cache expires (the
// listing that fetches then lists that number's value), and grows when the
// cache is invalidated.
func TestListVersion(t *testing.T) {
	clk := newClock()
	fetch, _ := countingFetch(t, "a")
	p, err := dap.New("p", fetch, &dap.Options{TTL: time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	list := func() uint64 {
		t.Helper()
		if _, err := p.ListActions(t.Context()); err != nil {
			t.Fatal(err)
		}
		return p.ListVersion()
	}
	v0 := p.ListVersion()
	if v := list(); v != v0 {
		t.Errorf("the first fetch listed version %d, promised %d", v, v0)
	}
	if v := list(); v != v0 {
		t.Errorf("a cached listing changed the version: %d, was %d", v, v0)
	}
	clk.Advance(2 * time.Second)
	v1 := p.ListVersion()
	if v1 <= v0 {
		t.Errorf("expiry did not grow the version: %d, was %d", v1, v0)
	}
	if v := list(); v != v1 {
		t.Errorf("the refresh listed version %d, promised %d", v, v1)
	}
	p.Invalidate()
	if v := p.ListVersion(); v <= v1 {
		t.Errorf("Invalidate did not grow the version: %d, was %d", v, v1)
	}
}
