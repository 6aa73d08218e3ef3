// Package registry holds a Genkit runtime's actions and values.
//
// A [Registry] is an instance: there is no global registry and nothing
// registers itself. Actions are added with [Registry.Register] (or the typed
// front door, [DefineFlow] and friends), looked up by key and listed in key
// order. Other sources of actions, such as dynamic action providers, plug in
// through the [Source] interface; the registry lists and resolves their
// actions beside its own.
//
// Running an action ([Action.Run]) validates its input against its JSON
// Schema, then runs it inside an OpenTelemetry span carrying the attributes
// Genkit tools read. The registry knows nothing of HTTP, JSON-RPC or span
// exporters.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// Source is another source of listable and resolvable actions, such as a
// dynamic action provider. Implementations must be safe for concurrent use.
type Source interface {
	// ListActions returns the descriptors of the actions the source
	// currently provides, keyed as they are to be run.
	ListActions(ctx context.Context) ([]Descriptor, error)
	// ResolveAction returns the action for key. It returns (nil, nil) when
	// the key is not the source's; an error means the key is the source's
	// but could not be resolved.
	ResolveAction(ctx context.Context, key string) (*Action, error)
}

// A VersionedSource is a Source that numbers what it lists, so that a
// listing can be cached without comparing descriptors, or even asking.
// ListVersion returns a number that grows whenever what ListActions would
// list may have changed, a source that lists from an expiring cache
// counting the expiry as a change (it may grow more often). While the
// number stays the same, ListActions lists the same descriptors. It is
// safe for concurrent use.
type VersionedSource interface {
	Source
	ListVersion() uint64
}

// DuplicateError reports an attempt to register a key that is taken.
type DuplicateError struct {
	Key string
}

func (e *DuplicateError) Error() string { return fmt.Sprintf("action %s is already registered", e.Key) }

// Options configures a Registry. The zero value is ready to use.
type Options struct {
	// Logger receives warnings about sources that fail to list. If nil,
	// nothing is logged.
	Logger *slog.Logger
}

// Registry holds actions, values and action sources. It is safe for
// concurrent use.
type Registry struct {
	logger *slog.Logger

	mu      sync.RWMutex // guards actions, sorted, values, sources and version
	actions map[string]*Action
	sorted  []*Action // actions in key order; nil when stale
	values  map[string]map[string]any
	sources []Source
	version uint64 // incremented on every change to actions or sources
}

// New returns an empty registry. opts may be nil.
func New(opts *Options) *Registry {
	r := &Registry{actions: map[string]*Action{}, values: map[string]map[string]any{}}
	if opts != nil && opts.Logger != nil {
		r.logger = opts.Logger
	} else {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Register adds a. It returns a *DuplicateError if the key is taken; the
// registered action is then left unchanged.
func (r *Registry) Register(a *Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.actions[a.Key()]; ok {
		return &DuplicateError{Key: a.Key()}
	}
	r.actions[a.Key()] = a
	r.sorted = nil
	r.version++
	return nil
}

// MustRegister is like Register but panics on error. It is meant for set-up
// code.
func (r *Registry) MustRegister(a *Action) {
	if err := r.Register(a); err != nil {
		panic(err)
	}
}

// Unregister removes the action with key. Removing a key that is not
// registered is not an error.
func (r *Registry) Unregister(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.actions[key]; ok {
		delete(r.actions, key)
		r.sorted = nil
		r.version++
	}
}

// Lookup returns the registered action with key. It does not consult
// sources; see [Registry.Resolve].
func (r *Registry) Lookup(key string) (*Action, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.actions[key]
	return a, ok
}

// List returns the registered actions sorted by key. The slice is a copy.
func (r *Registry) List() []*Action {
	r.mu.RLock()
	if r.sorted != nil {
		s := slices.Clone(r.sorted)
		r.mu.RUnlock()
		return s
	}
	r.mu.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sorted == nil {
		r.sorted = make([]*Action, 0, len(r.actions))
		for _, a := range r.actions {
			r.sorted = append(r.sorted, a)
		}
		slices.SortFunc(r.sorted, func(a, b *Action) int { return strings.Compare(a.Key(), b.Key()) })
	}
	return slices.Clone(r.sorted)
}

// Version returns a number that changes whenever an action or a source is
// added or removed. Callers caching a listing of registered actions compare
// it to know when to rebuild; sources may change on their own.
func (r *Registry) Version() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.version
}

// SourcesVersion returns a number that grows whenever what ListSources
// lists may have changed, and true, when every source is a
// [VersionedSource]; otherwise it returns 0 and false. Adding a source
// changes [Registry.Version] instead. A listing made between two calls that
// return the same number lists what that number stands for, and while the
// number stays, ListSources would list the same again.
func (r *Registry) SourcesVersion() (uint64, bool) {
	var sum uint64
	for _, s := range r.sourceList() {
		vs, ok := s.(VersionedSource)
		if !ok {
			return 0, false
		}
		sum += vs.ListVersion()
	}
	return sum, true
}

// AddSource adds a source of actions. Sources are consulted in the order
// they were added, after the registered actions.
func (r *Registry) AddSource(s Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources = append(r.sources, s)
	r.version++
}

func (r *Registry) sourceList() []Source {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.sources)
}

// Resolve returns the action for key: a registered action, else one a
// source resolves. It returns a NOT_FOUND *status.Error when no one has it,
// and a source's error when the key is the source's but cannot be resolved.
func (r *Registry) Resolve(ctx context.Context, key string) (*Action, error) {
	if a, ok := r.Lookup(key); ok {
		return a, nil
	}
	for _, s := range r.sourceList() {
		a, err := s.ResolveAction(ctx, key)
		if err != nil {
			return nil, err
		}
		if a != nil {
			return a, nil
		}
	}
	return nil, NotFoundError(key)
}

// NotFoundError returns the error for an action key nobody resolves.
func NotFoundError(key string) error {
	return &status.Error{Code: status.NotFound, Message: "action " + key + " not found"}
}

// IsNotFound reports whether err says an action does not exist.
func IsNotFound(err error) bool { return status.CodeOf(err) == status.NotFound }

// ListSources returns the descriptors the sources currently provide, in
// source order. A source that fails to list is logged and left out; the
// others are still listed.
func (r *Registry) ListSources(ctx context.Context) []Descriptor {
	var out []Descriptor
	for _, s := range r.sourceList() {
		ds, err := s.ListActions(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return out
			}
			r.logger.Warn("listing actions of a source failed", "err", err)
			continue
		}
		out = append(out, ds...)
	}
	return out
}

// SetValue stores a value of the given type under name, replacing any
// previous one. The v1 API serves values by type ("defaultModel",
// "middleware") from GET /api/values.
func (r *Registry) SetValue(typ, name string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.values[typ]
	if m == nil {
		m = map[string]any{}
		r.values[typ] = m
	}
	m[name] = v
}

// Values returns a copy of the values of the given type, keyed by name.
// It never returns nil.
func (r *Registry) Values(typ string) map[string]any {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]any, len(r.values[typ]))
	for k, v := range r.values[typ] {
		out[k] = v
	}
	return out
}
