package reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/registry"
)

// lister encodes the action listing: a JSON object from key to descriptor.
// The registered actions' part is cached until the registry changes, and
// the whole listing for as long as the registry and what the sources
// (dynamic action providers) list stay the same. When every source is a
// registry.VersionedSource, that is told by the sources' version, without
// asking them; otherwise the sources are asked on every listing (they keep
// their own caches) and their descriptors compared.
type lister struct {
	reg *registry.Registry

	mu      sync.Mutex // guards every field below
	version uint64
	valid   bool
	entries []byte              // `"key":{...},` for every registered action, in key order
	keys    map[string]struct{} // registered keys
	// full is the last listing, built at registry version fullVersion
	// from the source descriptors fullExtra; nil when none. When
	// fullNumbered is set, fullExtra is what the sources listed at sources
	// version fullSources.
	full         []byte
	fullVersion  uint64
	fullExtra    []registry.Descriptor
	fullNumbered bool
	fullSources  uint64
}

// list returns the listing as one JSON object. The bytes may be shared
// with other callers and must not be modified.
func (l *lister) list(ctx context.Context) ([]byte, error) {
	entries, keys, version, err := l.registered()
	if err != nil {
		return nil, err
	}
	// While the sources' version stays, they list the same; a listing made
	// between two equal readings of it is that version's (see
	// registry.Registry.SourcesVersion).
	sources, numbered := l.reg.SourcesVersion()
	l.mu.Lock()
	if numbered && l.full != nil && l.fullVersion == version && l.fullNumbered && l.fullSources == sources {
		full := l.full
		l.mu.Unlock()
		return full, nil
	}
	l.mu.Unlock()
	extra := l.reg.ListSources(ctx)
	if after, _ := l.reg.SourcesVersion(); after != sources {
		numbered = false
	}
	l.mu.Lock()
	if l.full != nil && l.fullVersion == version && l.sameSourcesLocked(numbered, sources, extra) {
		full := l.full
		l.mu.Unlock()
		return full, nil
	}
	l.mu.Unlock()
	var b bytes.Buffer
	b.Grow(len(entries) + 2 + 256*len(extra))
	b.WriteByte('{')
	b.Write(entries)
	var seen map[string]bool // keys of extra already written
	for _, d := range extra {
		if _, dup := keys[d.Key]; dup || seen[d.Key] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[d.Key] = true
		if err := writeEntry(&b, d); err != nil {
			return nil, err
		}
	}
	out := b.Bytes()
	if out[len(out)-1] == ',' {
		out = out[:len(out)-1]
	}
	out = append(out, '}')
	l.mu.Lock()
	if !l.valid || l.version == version {
		l.full, l.fullVersion, l.fullExtra = out, version, extra
		l.fullNumbered, l.fullSources = numbered, sources
	}
	l.mu.Unlock()
	return out, nil
}

// sameSourcesLocked reports whether the sources list what they listed for
// the cached listing: extra, made at sources version sources when numbered
// is set. l.mu is held.
func (l *lister) sameSourcesLocked(numbered bool, sources uint64, extra []registry.Descriptor) bool {
	if numbered && l.fullNumbered {
		return l.fullSources == sources
	}
	return sameDescriptors(l.fullExtra, extra)
}

// sameDescriptors reports whether two source listings describe the same
// actions: equal keys, types, names, descriptions, schemas and metadata.
// Sources list the same schema and metadata values again while their
// actions stay the same (descriptors share them; see
// registry.Action.Descriptor), so most comparisons are of a value with
// itself, which equalSchema and equalJSON settle without allocating.
func sameDescriptors(a, b []registry.Descriptor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Key != y.Key || x.Type != y.Type || x.Name != y.Name || x.Description != y.Description ||
			!equalSchema(x.InputSchema, y.InputSchema) || !equalSchema(x.OutputSchema, y.OutputSchema) ||
			!equalJSON(x.Metadata, y.Metadata) {
			return false
		}
	}
	return true
}

// equalSchema reports whether two schemas are equal: the same schema, or
// deeply equal ones.
func equalSchema(a, b *jsonschema.Schema) bool {
	return a == b || reflect.DeepEqual(a, b)
}

// equalJSON reports whether two values of the kinds JSON decodes to (and
// metadata holds) are equal, recursing into objects and arrays; other
// values are compared with reflect.DeepEqual.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equalJSON)
	}
	return reflect.DeepEqual(a, b)
}

func (l *lister) registered() ([]byte, map[string]struct{}, uint64, error) {
	v := l.reg.Version()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.valid && l.version == v {
		return l.entries, l.keys, v, nil
	}
	actions := l.reg.List()
	var b bytes.Buffer
	keys := make(map[string]struct{}, len(actions))
	for _, a := range actions {
		keys[a.Key()] = struct{}{}
		if err := writeEntry(&b, a.Descriptor()); err != nil {
			return nil, nil, 0, err
		}
	}
	l.entries, l.keys, l.version, l.valid = b.Bytes(), keys, v, true
	return l.entries, l.keys, v, nil
}

func writeEntry(b *bytes.Buffer, d registry.Descriptor) error {
	k, err := json.Marshal(d.Key)
	if err != nil {
		return err
	}
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	b.Write(k)
	b.WriteByte(':')
	b.Write(v)
	b.WriteByte(',')
	return nil
}
