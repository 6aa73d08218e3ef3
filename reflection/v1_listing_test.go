package reflection_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v1ChangingSource is a registry.Source whose listing the test changes.
type v1ChangingSource struct {
	mu    sync.Mutex // guards descs
	descs []registry.Descriptor
}

func (s *v1ChangingSource) set(d ...registry.Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.descs = d
}

func (s *v1ChangingSource) ListActions(context.Context) ([]registry.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]registry.Descriptor(nil), s.descs...), nil
}

func (s *v1ChangingSource) ResolveAction(context.Context, string) (*registry.Action, error) {
	return nil, nil
}

// TestV1ActionsCacheFollowsSources checks that the cached listing is
// served while a source lists the same descriptors, and rebuilt when it
// lists other ones: other keys, descriptions, schemas or metadata.
func TestV1ActionsCacheFollowsSources(t *testing.T) {
	src := &v1ChangingSource{}
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) { reg.AddSource(src) })
	const key = "/dynamic-action-provider/p:tool/x"
	objectSchema := &jsonschema.Schema{Type: "object"}
	md := map[string]any{"type": "tool"}
	steps := []struct {
		name string
		set  []registry.Descriptor
		want map[string]any // the listed descriptor of key; nil: not listed
	}{
		{name: "none", want: nil},
		{
			name: "added",
			set:  []registry.Descriptor{{Key: key, Name: "x", Description: "one", InputSchema: objectSchema, Metadata: md}},
			want: map[string]any{"key": key, "name": "x", "description": "one", "inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool"}},
		},
		{
			name: "same descriptors again",
			set:  []registry.Descriptor{{Key: key, Name: "x", Description: "one", InputSchema: objectSchema, Metadata: md}},
			want: map[string]any{"key": key, "name": "x", "description": "one", "inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool"}},
		},
		{
			name: "new description",
			set:  []registry.Descriptor{{Key: key, Name: "x", Description: "two", InputSchema: objectSchema, Metadata: md}},
			want: map[string]any{"key": key, "name": "x", "description": "two", "inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool"}},
		},
		{
			name: "new schema",
			set:  []registry.Descriptor{{Key: key, Name: "x", Description: "two", InputSchema: &jsonschema.Schema{Type: "string"}, Metadata: md}},
			want: map[string]any{"key": key, "name": "x", "description": "two", "inputSchema": map[string]any{"type": "string"}, "metadata": map[string]any{"type": "tool"}},
		},
		{
			name: "new metadata",
			set:  []registry.Descriptor{{Key: key, Name: "x", Description: "two", InputSchema: objectSchema, Metadata: map[string]any{"type": "tool", "n": 1}}},
			want: map[string]any{"key": key, "name": "x", "description": "two", "inputSchema": map[string]any{"type": "object"}, "metadata": map[string]any{"type": "tool", "n": float64(1)}},
		},
		{name: "removed", want: nil},
	}
	for _, st := range steps {
		src.set(st.set...)
		got, listed := v1Listing(t, e)[key]
		if st.want == nil {
			if listed {
				t.Errorf("%s: %s listed as %v, want not listed", st.name, key, got)
			}
			continue
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", st.name, key, diff)
		}
	}
	// A registered action added later is listed beside the source's.
	src.set(registry.Descriptor{Key: key, Name: "x"})
	before := v1Listing(t, e)
	if _, err := registry.DefineFlow(e.reg, "later", func(context.Context, string) (string, error) { return "", nil }, nil); err != nil {
		t.Fatal(err)
	}
	after := v1Listing(t, e)
	if _, ok := after["/flow/later"]; !ok || len(after) != len(before)+1 {
		t.Errorf("after registering /flow/later: %d entries (was %d), /flow/later listed: %v", len(after), len(before), ok)
	}
	if resp, _ := e.do(t, http.MethodGet, "/api/actions", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d", resp.StatusCode)
	}
}

// v1VersionedSource is a v1ChangingSource that numbers its listings.
type v1VersionedSource struct {
	v1ChangingSource
	version atomic.Uint64
}

func (s *v1VersionedSource) ListVersion() uint64 { return s.version.Load() }

// TestV1ActionsCacheFollowsSourceVersion checks that with versioned
// sources the cached listing is told current by the sources' version
// alone: rebuilt when the version grows, and served while it stays.
func TestV1ActionsCacheFollowsSourceVersion(t *testing.T) {
	src := &v1VersionedSource{}
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) { reg.AddSource(src) })
	const key = "/dynamic-action-provider/p:tool/x"
	description := func() any {
		t.Helper()
		d, ok := v1Listing(t, e)[key]
		if !ok {
			return nil
		}
		return d["description"]
	}
	src.set(registry.Descriptor{Key: key, Name: "x", Description: "one"})
	src.version.Add(1)
	if got := description(); got != "one" {
		t.Fatalf("description %v, want one", got)
	}
	// The source lists another description under the same version: the
	// version is the source's word that nothing changed.
	src.set(registry.Descriptor{Key: key, Name: "x", Description: "two"})
	if got := description(); got != "one" {
		t.Errorf("same version: description %v, want the cached one", got)
	}
	src.version.Add(1)
	if got := description(); got != "two" {
		t.Errorf("new version: description %v, want two", got)
	}
}
