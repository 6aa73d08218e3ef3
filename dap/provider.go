// Package dap implements dynamic action providers: sources of actions that
// are not registered up front but fetched, on demand, from a function, such
// as the tools of connected MCP servers.
//
// A [Provider] is two things at once, the way the JS runtime defines one:
//
//   - an ordinary action, "/dynamic-action-provider/<name>", whose run fetches
//     what the provider currently provides and returns its metadata;
//   - a [registry.Source], which lists every provided action under its
//     expanded key "/dynamic-action-provider/<name>:<type>/<action name>"
//     and resolves such keys to runnable actions.
//
// [Register] adds both to a registry. What the provider's function returns
// is cached for a TTL (3 seconds by default); concurrent fetches are
// coalesced into one; a failed fetch is not cached.
//
// Listing never records a trace: the fetch for a listing runs with a context
// stripped of the caller's values, so it joins no span. Resolving an action
// for a run, when the cache is stale, refreshes it by running the provider's
// own action, which records a span of its own the way the JS runtime does.
package dap

import (
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// DefaultTTL is how long a provider caches what it fetched unless told
// otherwise, the JS runtime's default.
const DefaultTTL = 3 * time.Second

// Actions is what a provider provides at one time: actions grouped by
// action type ("tool", "resource", ...). Each action is listed and run
// under its expanded key, built from the group's type and the action's own
// name; its descriptor is otherwise listed unchanged.
type Actions map[string][]*registry.Action

// FetchFunc returns what a provider currently provides. It is called with
// the context of the listing or run that needs it; it must honour its
// cancellation.
type FetchFunc func(ctx context.Context) (Actions, error)

// Options configures a Provider. The zero value is ready to use.
type Options struct {
	// Description is listed with the provider's own action.
	Description string
	// Metadata is listed with the provider's own action, beside
	// "type": "dynamic-action-provider", which always wins.
	Metadata map[string]any
	// TTL is how long a fetched value is served from the cache. Zero means
	// DefaultTTL; a negative TTL disables caching (concurrent fetches are
	// still coalesced).
	TTL time.Duration
	// TracerProvider makes the span of the provider's own action when the
	// cache is refreshed to resolve an action for a run. If nil, the
	// provider of the span in the resolving context is used, which is none
	// when a reflection handler resolves a key: set it to the handler's
	// provider to see these refreshes as traces.
	TracerProvider trace.TracerProvider
	// Now returns the current time; if nil, time.Now. Tests inject a clock.
	Now func() time.Time
}

// Provider is a dynamic action provider. It is safe for concurrent use.
type Provider struct {
	name   string
	fetchF FetchFunc
	ttl    time.Duration
	tp     trace.TracerProvider
	now    func() time.Time
	action *registry.Action

	mu       sync.Mutex // guards snap, expires, inflight, gen and version
	snap     *snapshot  // nil when empty or invalidated; set only by setSnap
	expires  time.Time
	inflight *fetchCall // the fetch that new callers join; nil when none
	gen      uint64     // incremented by Invalidate
	version  uint64     // incremented whenever snap changes (ListVersion)
}

// snapshot is one fetched value, indexed for listing and resolving.
type snapshot struct {
	descs    []registry.Descriptor       // expanded descriptors, in key order
	byKey    map[string]*registry.Action // expanded key → action keyed so
	metadata []actionMetadata            // output of the provider's action
}

// fetchCall is one in-flight fetch that callers wait on.
type fetchCall struct {
	done chan struct{} // closed when snap and err are set
	gen  uint64        // the provider's gen when the fetch started
	snap *snapshot
	err  error
	// abandoned reports that the fetch failed because the context of the
	// caller running it ended; waiters whose own context is live retry.
	abandoned bool
}

// actionMetadata is one element of the output of a provider's own action,
// the metadata of a provided action: its type and its listed descriptor.
type actionMetadata struct {
	ActionType string `json:"actionType"`
	registry.Descriptor
}

var _ registry.VersionedSource = (*Provider)(nil)

// New returns a provider named name that provides what fetch returns. The
// name must be non-empty and contain neither '/' nor ':'. opts may be nil.
func New(name string, fetch FetchFunc, opts *Options) (*Provider, error) {
	if name == "" || strings.ContainsAny(name, "/:") {
		return nil, fmt.Errorf("dynamic action provider name %q: want a non-empty name without '/' or ':'", name)
	}
	if fetch == nil {
		return nil, fmt.Errorf("dynamic action provider %s: nil fetch function", name)
	}
	if opts == nil {
		opts = &Options{}
	}
	p := &Provider{name: name, fetchF: fetch, ttl: opts.TTL, tp: opts.TracerProvider, now: opts.Now}
	if p.ttl == 0 {
		p.ttl = DefaultTTL
	}
	if p.now == nil {
		p.now = time.Now
	}
	md := maps.Clone(opts.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	md["type"] = ActionType
	a, err := registry.NewAction(registry.Descriptor{
		Key:         Key(name, "", ""),
		Type:        ActionType,
		Name:        name,
		Description: opts.Description,
		OutputSchema: &jsonschema.Schema{
			Type:  "array",
			Items: &jsonschema.Schema{Type: "object"},
		},
		Metadata: md,
	}, p.runAction)
	if err != nil {
		return nil, err
	}
	p.action = a
	return p, nil
}

// Register registers p's own action in reg and adds p as a source of
// actions. When the action's key is taken it returns the registry's
// *registry.DuplicateError and adds nothing.
func Register(reg *registry.Registry, p *Provider) error {
	if err := reg.Register(p.action); err != nil {
		return err
	}
	reg.AddSource(p)
	return nil
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// Action returns the provider's own action, "/dynamic-action-provider/<name>".
// Running it fetches, refreshes the cache and returns the metadata of the
// provided actions.
func (p *Provider) Action() *registry.Action { return p.action }

// Invalidate drops the cached value, so the next listing or resolution
// fetches again. A fetch already under way is not joined by later callers,
// and its result is not cached.
func (p *Provider) Invalidate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.setSnap(nil)
	p.inflight = nil
}

// setSnap replaces the cached value. p.mu is held.
func (p *Provider) setSnap(s *snapshot) {
	p.snap = s
	p.version++
}

// ListVersion returns a number that grows whenever the cached value is
// replaced or dropped, or has expired so that the next listing fetches:
// what ListActions lists can change only then. It implements
// [registry.VersionedSource].
func (p *Provider) ListVersion() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snap == nil || p.ttl < 0 || p.now().After(p.expires) {
		// The next listing fetches and replaces the value: the number of
		// the value it will list.
		return p.version + 1
	}
	return p.version
}

// ListActions returns the descriptors of the provided actions, keyed by
// their expanded keys and in key order, fetching when the cache is stale.
// The fetch records no trace span. A failed fetch returns its error.
func (p *Provider) ListActions(ctx context.Context) ([]registry.Descriptor, error) {
	s, err := p.get(ctx, false)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.descs), nil
}

// ResolveAction returns the provided action with the expanded key key,
// keyed so that its runs are traced under that key. It returns (nil, nil)
// for keys that are not this provider's, a NOT_FOUND error for a provided
// action that does not exist and for listing patterns ("*", "prefix*"), and
// an INVALID_ARGUMENT error for a malformed provider key. When the cache is
// stale it is refreshed by running the provider's own action (see
// [Options.TracerProvider]).
func (p *Provider) ResolveAction(ctx context.Context, key string) (*registry.Action, error) {
	if !IsKey(key) {
		return nil, nil
	}
	host, typ, name, err := ParseKey(key)
	switch {
	case err != nil:
		return nil, err
	case host != p.name:
		return nil, nil
	case typ == "":
		return p.action, nil
	case isPattern(name):
		return nil, registry.NotFoundError(key)
	}
	s, err := p.get(ctx, true)
	if err != nil {
		return nil, err
	}
	if a, ok := s.byKey[key]; ok {
		return a, nil
	}
	return nil, registry.NotFoundError(key)
}

// get returns the cached value, or fetches one. Concurrent callers share a
// single fetch, each waiting no longer than its own ctx allows. traced says
// whether a fetch runs as the provider's own action (a span) or bare.
func (p *Provider) get(ctx context.Context, traced bool) (*snapshot, error) {
	for {
		p.mu.Lock()
		if s := p.snap; s != nil && p.ttl >= 0 && !p.now().After(p.expires) {
			p.mu.Unlock()
			return s, nil
		}
		c := p.inflight
		if c == nil {
			c = &fetchCall{done: make(chan struct{}), gen: p.gen}
			p.inflight = c
			p.mu.Unlock()
			p.lead(ctx, c, traced)
			return c.snap, c.err
		}
		p.mu.Unlock()
		select {
		case <-c.done:
			if c.abandoned && ctx.Err() == nil {
				continue
			}
			return c.snap, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// lead runs the fetch of c in the calling goroutine and publishes its
// outcome to c's waiters and, unless invalidated meanwhile, to the cache.
func (p *Provider) lead(ctx context.Context, c *fetchCall, traced bool) {
	var snap *snapshot
	var err error
	if traced {
		slot := &refreshSlot{p: p}
		_, err = p.action.Run(context.WithValue(ctx, refreshSlotKey{}, slot), nil,
			&registry.RunOptions{TracerProvider: p.tp})
		snap = slot.snap
	} else {
		snap, err = p.fetch(valuelessContext{ctx})
	}
	p.mu.Lock()
	if p.inflight == c {
		p.inflight = nil
	}
	if c.gen == p.gen {
		if err != nil {
			p.setSnap(nil)
		} else {
			p.setSnap(snap)
			p.expires = p.now().Add(p.ttl)
		}
	}
	c.snap, c.err = snap, err
	c.abandoned = err != nil && ctx.Err() != nil
	p.mu.Unlock()
	close(c.done)
}

// refreshSlot receives the value fetched by the provider's own action when
// the cache runs it to refresh.
type refreshSlot struct {
	p    *Provider
	snap *snapshot
}

type refreshSlotKey struct{}

// runAction is the function of the provider's own action: it fetches,
// refreshes the cache (or hands the value to the cache refresh that runs
// it) and returns the metadata of the provided actions.
func (p *Provider) runAction(ctx context.Context, _ *registry.Request) (any, error) {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	s, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if slot, ok := ctx.Value(refreshSlotKey{}).(*refreshSlot); ok && slot.p == p {
		slot.snap = s
	} else {
		p.mu.Lock()
		if gen == p.gen {
			p.setSnap(s)
			p.expires = p.now().Add(p.ttl)
		}
		p.mu.Unlock()
	}
	return s.metadata, nil
}

// fetch calls the fetch function and indexes its value. A panic in the
// function is returned as an INTERNAL error, so waiters are never stranded.
func (p *Provider) fetch(ctx context.Context) (s *snapshot, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &status.Error{
				Code:    status.Internal,
				Message: fmt.Sprintf("dynamic action provider %s panicked: %v", p.name, r),
				Details: map[string]any{"stack": string(debug.Stack())},
			}
		}
	}()
	v, err := p.fetchF(ctx)
	if err != nil {
		return nil, err
	}
	return p.index(v)
}

// index builds the snapshot of v: every action re-keyed by its expanded
// key. Within one type, the first action of a name wins.
func (p *Provider) index(v Actions) (*snapshot, error) {
	s := &snapshot{byKey: map[string]*registry.Action{}}
	for _, typ := range slices.Sorted(maps.Keys(v)) {
		if typ == "" || strings.ContainsAny(typ, "/:") {
			return nil, status.Errorf(status.InvalidArgument,
				"dynamic action provider %s: invalid action type %q", p.name, typ)
		}
		for _, a := range v[typ] {
			if a == nil {
				continue
			}
			d := a.Descriptor()
			if d.Name == "" || strings.Contains(d.Name, ":") {
				return nil, status.Errorf(status.InvalidArgument,
					"dynamic action provider %s: invalid %s action name %q", p.name, typ, d.Name)
			}
			key := Key(p.name, typ, d.Name)
			if _, dup := s.byKey[key]; dup {
				continue
			}
			s.byKey[key] = a.WithKey(key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(s.byKey)) {
		d := s.byKey[key].Descriptor()
		s.descs = append(s.descs, d)
		_, typ, _, _ := ParseKey(key)
		s.metadata = append(s.metadata, actionMetadata{ActionType: typ, Descriptor: d})
	}
	if s.metadata == nil {
		s.metadata = []actionMetadata{}
	}
	return s, nil
}
