package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

func nopFunc(context.Context, *registry.Request) (any, error) { return "ok", nil }

func newAction(t testing.TB, key string) *registry.Action {
	t.Helper()
	a, err := registry.NewAction(registry.Descriptor{Key: key}, nopFunc)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func keys(as []*registry.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Key()
	}
	return out
}

func TestRegisterDuplicate(t *testing.T) {
	r := registry.New(nil)
	first := newAction(t, "/flow/a")
	if err := r.Register(first); err != nil {
		t.Fatalf("Register: %v", err)
	}
	v := r.Version()
	err := r.Register(newAction(t, "/flow/a"))
	var dup *registry.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("second Register = %v, want a *DuplicateError", err)
	}
	if dup.Key != "/flow/a" {
		t.Errorf("DuplicateError.Key = %q, want /flow/a", dup.Key)
	}
	if got, _ := r.Lookup("/flow/a"); got != first {
		t.Error("a duplicate Register replaced the registered action")
	}
	if r.Version() != v {
		t.Error("a failed Register changed the version")
	}
}

func TestMustRegisterPanicsOnDuplicate(t *testing.T) {
	r := registry.New(nil)
	r.MustRegister(newAction(t, "/flow/a"))
	defer func() {
		p := recover()
		err, _ := p.(error)
		var dup *registry.DuplicateError
		if !errors.As(err, &dup) {
			t.Errorf("MustRegister panicked with %v, want a *DuplicateError", p)
		}
	}()
	r.MustRegister(newAction(t, "/flow/a"))
}

func TestLookup(t *testing.T) {
	r := registry.New(nil)
	a := newAction(t, "/model/google/gemini")
	r.MustRegister(a)
	tests := []struct {
		key    string
		want   *registry.Action
		wantOK bool
	}{
		{"/model/google/gemini", a, true},
		{"/model/google", nil, false},
		{"/flow/google/gemini", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, ok := r.Lookup(tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestListSortedCopy(t *testing.T) {
	r := registry.New(nil)
	for _, k := range []string{"/tool/b", "/flow/z", "/flow/a", "/model/m", "/flow/a/b"} {
		r.MustRegister(newAction(t, k))
	}
	want := []string{"/flow/a", "/flow/a/b", "/flow/z", "/model/m", "/tool/b"}
	got := r.List()
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Fatalf("List mismatch (-want +got):\n%s", diff)
	}
	// Changing the returned slice must not change the registry's listing.
	got[0], got[4] = got[4], nil
	if diff := cmp.Diff(want, keys(r.List())); diff != "" {
		t.Errorf("List after modifying a returned slice (-want +got):\n%s", diff)
	}
	// A registration after a (cached) listing shows up in the next one.
	r.MustRegister(newAction(t, "/flow/m"))
	want = []string{"/flow/a", "/flow/a/b", "/flow/m", "/flow/z", "/model/m", "/tool/b"}
	if diff := cmp.Diff(want, keys(r.List())); diff != "" {
		t.Errorf("List after Register (-want +got):\n%s", diff)
	}
}

func TestUnregisterAndVersion(t *testing.T) {
	r := registry.New(nil)
	v0 := r.Version()
	r.MustRegister(newAction(t, "/flow/a"))
	v1 := r.Version()
	if v1 == v0 {
		t.Fatal("Register did not change the version")
	}
	r.Unregister("/flow/missing") // not an error
	if r.Version() != v1 {
		t.Error("Unregister of a missing key changed the version")
	}
	r.List()
	r.Unregister("/flow/a")
	v2 := r.Version()
	if v2 == v1 {
		t.Error("Unregister did not change the version")
	}
	if _, ok := r.Lookup("/flow/a"); ok {
		t.Error("Lookup found an unregistered action")
	}
	if got := r.List(); len(got) != 0 {
		t.Errorf("List after Unregister = %v, want empty", keys(got))
	}
	r.AddSource(staticSource{})
	if r.Version() == v2 {
		t.Error("AddSource did not change the version")
	}
	// The key is free again.
	if err := r.Register(newAction(t, "/flow/a")); err != nil {
		t.Errorf("Register after Unregister: %v", err)
	}
}

func TestValues(t *testing.T) {
	r := registry.New(nil)
	if got := r.Values("defaultModel"); got == nil || len(got) != 0 {
		t.Errorf("Values of an unknown type = %#v, want an empty non-nil map", got)
	}
	r.SetValue("defaultModel", "defaultModel", map[string]any{"name": "a"})
	r.SetValue("defaultModel", "defaultModel", map[string]any{"name": "b"}) // replaces
	r.SetValue("middleware", "retry", map[string]any{"name": "retry"})
	got := r.Values("defaultModel")
	want := map[string]any{"defaultModel": map[string]any{"name": "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Values mismatch (-want +got):\n%s", diff)
	}
	got["other"] = 1
	delete(got, "defaultModel")
	if diff := cmp.Diff(want, r.Values("defaultModel")); diff != "" {
		t.Errorf("Values after modifying a returned map (-want +got):\n%s", diff)
	}
}

// staticSource is a Source with a fixed set of actions.
type staticSource struct {
	actions []*registry.Action
	listErr error
	resErr  error
}

func (s staticSource) ListActions(context.Context) ([]registry.Descriptor, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	var out []registry.Descriptor
	for _, a := range s.actions {
		out = append(out, a.Descriptor())
	}
	return out, nil
}

func (s staticSource) ResolveAction(_ context.Context, key string) (*registry.Action, error) {
	for _, a := range s.actions {
		if a.Key() == key {
			return a, nil
		}
	}
	return nil, s.resErr
}

func TestResolveAndSources(t *testing.T) {
	r := registry.New(nil)
	own := newAction(t, "/tool/x")
	r.MustRegister(own)
	provided := newAction(t, "/flow/a").WithKey("/dynamic-action-provider/p:tool/x")
	shadow := newAction(t, "/tool/x")
	r.AddSource(staticSource{listErr: errors.New("listing broke")})
	r.AddSource(staticSource{actions: []*registry.Action{provided, shadow}})
	ctx := context.Background()

	if a, err := r.Resolve(ctx, "/tool/x"); err != nil || a != own {
		t.Errorf("Resolve(/tool/x) = %v, %v; want the registered action", a, err)
	}
	if a, err := r.Resolve(ctx, provided.Key()); err != nil || a != provided {
		t.Errorf("Resolve(%s) = %v, %v; want the provided action", provided.Key(), a, err)
	}
	_, err := r.Resolve(ctx, "/flow/nope")
	if !registry.IsNotFound(err) || status.CodeOf(err) != status.NotFound {
		t.Errorf("Resolve(/flow/nope) error = %v, want NOT_FOUND", err)
	}
	if got, want := status.FromError(err).Message, "NOT_FOUND: action /flow/nope not found"; got != want {
		t.Errorf("not-found message = %q, want %q", got, want)
	}

	listed := r.ListSources(ctx)
	var got []string
	for _, d := range listed {
		got = append(got, d.Key)
	}
	if diff := cmp.Diff([]string{"/dynamic-action-provider/p:tool/x", "/tool/x"}, got); diff != "" {
		t.Errorf("ListSources keys (-want +got):\n%s", diff)
	}

	// A source's resolution error is the caller's error.
	r2 := registry.New(nil)
	boom := status.Errorf(status.Unavailable, "provider down")
	r2.AddSource(staticSource{resErr: boom})
	if _, err := r2.Resolve(ctx, "/tool/y"); !errors.Is(err, boom) {
		t.Errorf("Resolve with a failing source = %v, want %v", err, boom)
	}
}

func TestWithKey(t *testing.T) {
	a := newAction(t, "/tool/x")
	b := a.WithKey("/dynamic-action-provider/p:tool/x")
	if a.Key() != "/tool/x" {
		t.Errorf("WithKey changed the original's key to %q", a.Key())
	}
	if b.Key() != "/dynamic-action-provider/p:tool/x" || b.Descriptor().Name != "x" || b.Descriptor().Type != "tool" {
		t.Errorf("WithKey copy = %+v", b.Descriptor())
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key       string
		typ, name string
		ok        bool
	}{
		{"/flow/echo", "flow", "echo", true},
		{"/model/googleai/gemini-2.5-flash", "model", "googleai/gemini-2.5-flash", true},
		{"/tool.v2/add", "tool.v2", "add", true},
		{"/dynamic-action-provider/d:tool/x", "dynamic-action-provider", "d:tool/x", true},
		{"flow/echo", "", "", false},
		{"/flow", "", "", false},
		{"/flow/", "", "", false},
		{"//echo", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		typ, name, ok := registry.ParseKey(tt.key)
		if typ != tt.typ || name != tt.name || ok != tt.ok {
			t.Errorf("ParseKey(%q) = %q, %q, %v; want %q, %q, %v", tt.key, typ, name, ok, tt.typ, tt.name, tt.ok)
		}
	}
}

func TestNewAction(t *testing.T) {
	tests := []struct {
		name    string
		d       registry.Descriptor
		fn      registry.Func
		wantKey string
		wantErr bool
	}{
		{"type and name", registry.Descriptor{Type: "flow", Name: "a/b"}, nopFunc, "/flow/a/b", false},
		{"key only", registry.Descriptor{Key: "/tool/x"}, nopFunc, "/tool/x", false},
		{"nil func", registry.Descriptor{Type: "flow", Name: "a"}, nil, "", true},
		{"no key, no name", registry.Descriptor{Type: "flow"}, nopFunc, "", true},
		{"malformed key", registry.Descriptor{Key: "flow/a"}, nopFunc, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := registry.NewAction(tt.d, tt.fn)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewAction error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && a.Key() != tt.wantKey {
				t.Errorf("Key() = %q, want %q", a.Key(), tt.wantKey)
			}
		})
	}
}

// TestConcurrentSafeRegistry exercises every method from many goroutines;
// run it with -race.
func TestConcurrentSafeRegistry(t *testing.T) {
	r := registry.New(nil)
	var done = make(chan struct{})
	const n = 50
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			key := fmt.Sprintf("/flow/f%d", i)
			a := newAction(t, key)
			if err := r.Register(a); err != nil {
				t.Error(err)
			}
			r.List()
			r.Lookup(key)
			r.Version()
			r.SetValue("t", key, i)
			r.Values("t")
			if i%2 == 0 {
				r.Unregister(key)
			}
		}()
	}
	for range n {
		<-done
	}
	got := keys(r.List())
	if len(got) != n/2 || !slices.IsSorted(got) {
		t.Errorf("List after concurrent changes = %v, want %d sorted keys", got, n/2)
	}
}

// TestDescriptorJSON checks the wire form of a listed action: absent fields
// left out, never null, and no type.
func TestDescriptorJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    registry.Descriptor
		want string
	}{
		{"bare", registry.Descriptor{Key: "/flow/x", Type: "flow", Name: "x"}, `{"key":"/flow/x","name":"x"}`},
		{"full", registry.Descriptor{
			Key: "/tool/t", Type: "tool", Name: "t", Description: "d",
			InputSchema: &jsonschema.Schema{Type: "string"}, OutputSchema: &jsonschema.Schema{Type: "number"},
			Metadata: map[string]any{"type": "tool"},
		}, `{"key":"/tool/t","name":"t","description":"d","inputSchema":{"type":"string"},"outputSchema":{"type":"number"},"metadata":{"type":"tool"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

// versionedSource is a source with a settable list version.
type versionedSource struct {
	staticSource
	version uint64
}

func (s *versionedSource) ListVersion() uint64 { return s.version }

func TestSourcesVersion(t *testing.T) {
	r := registry.New(nil)
	if v, ok := r.SourcesVersion(); !ok || v != 0 {
		t.Errorf("no sources: SourcesVersion = %d, %v; want 0, true", v, ok)
	}
	a, b := &versionedSource{version: 1}, &versionedSource{version: 5}
	r.AddSource(a)
	r.AddSource(b)
	if v, ok := r.SourcesVersion(); !ok || v != 6 {
		t.Errorf("SourcesVersion = %d, %v; want 6, true", v, ok)
	}
	b.version++
	if v, _ := r.SourcesVersion(); v != 7 {
		t.Errorf("after a source changed: SourcesVersion = %d, want 7", v)
	}
	r.AddSource(staticSource{})
	if v, ok := r.SourcesVersion(); ok || v != 0 {
		t.Errorf("with an unversioned source: SourcesVersion = %d, %v; want 0, false", v, ok)
	}
}
