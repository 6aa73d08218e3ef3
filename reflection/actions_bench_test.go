package reflection

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// BenchmarkListerCached lists the fixture and a dynamic action provider of
// 1,000 tools again and again while nothing changes: the cached listing is
// served on the sources' version alone.
func BenchmarkListerCached(b *testing.B) {
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		b.Fatal(err)
	}
	if _, err := fixture.RegisterSyntheticDAP(reg, 1000, nil); err != nil {
		b.Fatal(err)
	}
	l := &lister{reg: reg}
	ctx := context.Background()
	first, err := l.list(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := l.list(ctx)
		if err != nil || len(out) != len(first) {
			b.Fatalf("listing: %d bytes, %v; want %d bytes", len(out), err, len(first))
		}
	}
}

// BenchmarkSameDescriptors compares two listings of 1,000 provided tools
// that share their schemas and metadata, as a dynamic action provider lists
// them again while they stay the same: the check every listing makes
// before it serves the cached one.
func BenchmarkSameDescriptors(b *testing.B) {
	in := &jsonschema.Schema{Type: "object"}
	a := make([]registry.Descriptor, 1000)
	for i := range a {
		a[i] = registry.Descriptor{
			Key: fmt.Sprintf("/dynamic-action-provider/p:tool/tool-%05d", i), Type: "tool",
			Name: fmt.Sprintf("p:tool/tool-%05d", i), Description: "Returns its input.", InputSchema: in,
			Metadata: map[string]any{"type": "tool", "dynamic": true},
		}
	}
	c := append([]registry.Descriptor(nil), a...)
	b.ReportAllocs()
	for b.Loop() {
		if !sameDescriptors(a, c) {
			b.Fatal("listings differ")
		}
	}
}

func TestSameDescriptors(t *testing.T) {
	d := registry.Descriptor{Key: "/tool/t", Type: "tool", Name: "t", InputSchema: &jsonschema.Schema{Type: "string"},
		Metadata: map[string]any{"type": "tool", "n": 1.0, "list": []any{"a", map[string]any{"b": nil}}}}
	for _, tc := range []struct {
		name string
		edit func(*registry.Descriptor)
		same bool
	}{
		{"same values", func(*registry.Descriptor) {}, true},
		{"equal copies", func(d *registry.Descriptor) {
			d.InputSchema = &jsonschema.Schema{Type: "string"}
			d.Metadata = map[string]any{"type": "tool", "n": 1.0, "list": []any{"a", map[string]any{"b": nil}}}
		}, true},
		{"other schema", func(d *registry.Descriptor) { d.InputSchema = &jsonschema.Schema{Type: "number"} }, false},
		{"other metadata value", func(d *registry.Descriptor) {
			d.Metadata = map[string]any{"type": "tool", "n": 2.0, "list": []any{"a", map[string]any{"b": nil}}}
		}, false},
		{"nested difference", func(d *registry.Descriptor) {
			d.Metadata = map[string]any{"type": "tool", "n": 1.0, "list": []any{"a", map[string]any{"b": false}}}
		}, false},
		{"no metadata", func(d *registry.Descriptor) { d.Metadata = nil }, false},
		{"other name", func(d *registry.Descriptor) { d.Name = "u" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := d
			tc.edit(&e)
			if got := sameDescriptors([]registry.Descriptor{d}, []registry.Descriptor{e}); got != tc.same {
				t.Errorf("sameDescriptors = %v, want %v", got, tc.same)
			}
		})
	}
}
