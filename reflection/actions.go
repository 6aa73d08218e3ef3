package reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sync"

	"github.com/genkit-runtime/genkit-runtime/registry"
)

// lister encodes the action listing: a JSON object from key to descriptor.
// The registered actions' part is cached until the registry changes;
// sources (dynamic action providers) are asked on every listing, since
// they keep their own caches, and the whole listing is cached for as long
// as the registry and what the sources list stay the same.
type lister struct {
	reg *registry.Registry

	mu      sync.Mutex // guards every field below
	version uint64
	valid   bool
	entries []byte              // `"key":{...},` for every registered action, in key order
	keys    map[string]struct{} // registered keys
	// full is the last listing, built at registry version fullVersion
	// from the source descriptors fullExtra; nil when none.
	full        []byte
	fullVersion uint64
	fullExtra   []registry.Descriptor
}

// list returns the listing as one JSON object. The bytes may be shared
// with other callers and must not be modified.
func (l *lister) list(ctx context.Context) ([]byte, error) {
	entries, keys, version, err := l.registered()
	if err != nil {
		return nil, err
	}
	extra := l.reg.ListSources(ctx)
	l.mu.Lock()
	if l.full != nil && l.fullVersion == version && sameDescriptors(l.fullExtra, extra) {
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
	}
	l.mu.Unlock()
	return out, nil
}

// sameDescriptors reports whether two source listings describe the same
// actions: equal keys, types, names, descriptions, schemas and metadata.
// Sources list the same schema and metadata values again while their
// actions stay the same (descriptors share them; see
// registry.Action.Descriptor), so the comparison is mostly of identical
// values.
func sameDescriptors(a, b []registry.Descriptor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Key != y.Key || x.Type != y.Type || x.Name != y.Name || x.Description != y.Description ||
			!reflect.DeepEqual(x.InputSchema, y.InputSchema) || !reflect.DeepEqual(x.OutputSchema, y.OutputSchema) ||
			!reflect.DeepEqual(x.Metadata, y.Metadata) {
			return false
		}
	}
	return true
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
