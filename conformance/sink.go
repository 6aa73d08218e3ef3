package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// maxSinkBody bounds one POST to the sink, the telemetry server's limit.
const maxSinkBody = 100 << 20

// Sink is a recording Genkit telemetry server: it accepts the trace
// exports runtimes POST to <url>/api/traces and keeps every body as it
// came, validated as the telemetry server validates it
// (tracestore.DecodeTraceData). It answers like the telemetry server:
// 200 "OK" for traces, 200 "{}" for OTLP posts under /api/otlp, 200 "OK"
// for GET /api/__health.
//
// Any path prefix is accepted before /api/traces, and recorded with the
// post, so that one Sink can stand for several telemetry servers: a
// runtime pointed at <url>/b posts to /b/api/traces.
//
// Sink is an http.Handler and does not listen; serve it yourself. Its
// methods are safe for concurrent use.
type Sink struct {
	mu      sync.Mutex // guards posts, otlp and changed
	posts   []SinkPost
	otlp    int
	changed chan struct{} // closed and replaced on every post
}

// SinkPost is one POST of a trace to the sink.
type SinkPost struct {
	// Prefix is the path before /api/traces, "" for the root.
	Prefix string
	// Time is when the post arrived.
	Time time.Time
	// Body is the raw body.
	Body []byte
	// Trace is the decoded body; valid only when Err is empty.
	Trace tracestore.TraceData
	// Err says why the body is not a valid TraceData, if it is not.
	Err string
}

var _ http.Handler = (*Sink)(nil)

// NewSink returns an empty sink.
func NewSink() *Sink {
	return &Sink{changed: make(chan struct{})}
}

// ServeHTTP implements http.Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/api/__health"):
		io.WriteString(w, "OK")
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/api/traces"):
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSinkBody))
		post := SinkPost{Prefix: strings.TrimSuffix(p, "/api/traces"), Time: time.Now(), Body: body}
		if err != nil {
			post.Err = "reading body: " + err.Error()
		} else if td, err := tracestore.DecodeTraceData(body); err != nil {
			post.Err = err.Error()
		} else {
			post.Trace = td
		}
		s.mu.Lock()
		s.posts = append(s.posts, post)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if post.Err != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]any{"code": 13, "message": post.Err})
			return
		}
		io.WriteString(w, "OK")
	case r.Method == http.MethodPost && strings.Contains(p, "/api/otlp"):
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxSinkBody))
		s.mu.Lock()
		s.otlp++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	default:
		http.NotFound(w, r)
	}
}

// Posts returns the trace posts received so far, oldest first. The
// caller may keep the slice; the posts' bodies are shared and must not be
// modified.
func (s *Sink) Posts() []SinkPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// Len returns the number of trace posts received so far.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

// wait returns the posts once cond holds for them, or when ctx ends.
func (s *Sink) wait(ctx context.Context, cond func([]SinkPost) bool) []SinkPost {
	for {
		s.mu.Lock()
		posts, ch := slices.Clone(s.posts), s.changed
		s.mu.Unlock()
		if cond(posts) {
			return posts
		}
		select {
		case <-ctx.Done():
			return posts
		case <-ch:
		}
	}
}

// sinkTrace is the merged view of one trace's posts.
type sinkTrace struct {
	posts    int
	invalid  []string
	prefixes []string
	spans    map[string]map[string]any // span id → latest span, ended state preferred
	endPosts map[string]int            // span id → posts carrying its ended state
	level    map[string]any            // trace-level fields from the posts that had them
	batches  []any                     // per post: whether it held the root, its trace-level fields
	// startPosts counts the spans posted while running (endTime 0);
	// rootStartPosted is set when the root was one of them.
	startPosts      int
	rootStartPosted bool
}

// mergeTrace merges the posts of traceID the way the telemetry server
// stores them: by span id, an ended span never replaced by a running one.
func mergeTrace(posts []SinkPost, traceID string) *sinkTrace {
	t := &sinkTrace{spans: map[string]map[string]any{}, endPosts: map[string]int{}, level: map[string]any{}}
	for _, p := range posts {
		if p.Err != "" {
			// An invalid post may still name the trace; count it there.
			if strings.Contains(string(p.Body), traceID) {
				t.posts++
				t.invalid = append(t.invalid, p.Err)
			}
			continue
		}
		if p.Trace.TraceID != traceID {
			continue
		}
		t.posts++
		if !slices.Contains(t.prefixes, p.Prefix) {
			t.prefixes = append(t.prefixes, p.Prefix)
		}
		raw, err := decodeJSON(p.Body)
		if err != nil {
			continue
		}
		doc, _ := raw.(map[string]any)
		level := map[string]any{}
		for _, k := range []string{"displayName", "startTime", "endTime"} {
			if v, ok := doc[k]; ok {
				t.level[k] = v
				level[k] = v
			}
		}
		spans, _ := doc["spans"].(map[string]any)
		hasRoot := false
		for id, v := range spans {
			sp, _ := v.(map[string]any)
			if sp == nil {
				continue
			}
			ended := spanEnded(sp)
			isRoot := false
			if p, _ := sp["parentSpanId"].(string); p == "" {
				hasRoot, isRoot = true, true
			}
			if !ended {
				t.startPosts++
				t.rootStartPosted = t.rootStartPosted || isRoot
			}
			if ended {
				t.endPosts[id]++
			}
			if old, ok := t.spans[id]; ok && spanEnded(old) && !ended {
				continue
			}
			t.spans[id] = sp
		}
		t.batches = append(t.batches, map[string]any{"hasRoot": hasRoot, "spanCount": len(spans), "traceLevel": level})
	}
	return t
}

func spanEnded(sp map[string]any) bool {
	f, ok := number(sp["endTime"])
	return ok && f > 0
}

// root returns the span without a parent, if any.
func (t *sinkTrace) root() map[string]any {
	for _, id := range sortedKeys(t.spans) {
		sp := t.spans[id]
		if p, _ := sp["parentSpanId"].(string); p == "" {
			return sp
		}
	}
	return nil
}

// complete reports whether the root and every span have ended and there
// are at least minSpans spans.
func (t *sinkTrace) complete(minSpans int) bool {
	root := t.root()
	if root == nil || len(t.spans) < max(minSpans, 1) {
		return false
	}
	for _, sp := range t.spans {
		if !spanEnded(sp) {
			return false
		}
	}
	return true
}

// observation renders the trace for assertions.
func (t *sinkTrace) observation(traceID string, complete bool) map[string]any {
	byName := map[string]any{}
	var children []map[string]any
	root := t.root()
	for _, id := range sortedKeys(t.spans) {
		sp := t.spans[id]
		name, _ := sp["displayName"].(string)
		if _, dup := byName[name]; !dup {
			byName[name] = sp
		}
		if sp != nil && !sameSpan(sp, root) {
			children = append(children, sp)
		}
	}
	slices.SortStableFunc(children, func(a, b map[string]any) int {
		fa, _ := number(a["startTime"])
		fb, _ := number(b["startTime"])
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	})
	maxEnd := 0
	for _, n := range t.endPosts {
		maxEnd = max(maxEnd, n)
	}
	obs := map[string]any{
		"traceId":     traceID,
		"complete":    complete,
		"posts":       t.posts,
		"invalid":     nonNil(t.invalid),
		"via":         nonNil(t.prefixes),
		"spanCount":   len(t.spans),
		"spans":       byName,
		"children":    nonNil(children),
		"maxEndPosts": maxEnd,
		"traceLevel":  t.level,
		// Each post of the trace: hasRoot, spanCount and the trace-level
		// fields it carried.
		"batches":         nonNil(t.batches),
		"startPosts":      t.startPosts,
		"rootStartPosted": t.rootStartPosted,
	}
	if root != nil {
		obs["root"] = root
	}
	return obs
}

func sameSpan(a, b map[string]any) bool {
	if a == nil || b == nil {
		return false
	}
	return a["spanId"] == b["spanId"]
}

// nonNil returns s, or an empty slice for nil, so it renders as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// rootEnded reports whether the sink holds the ended root span of traceID.
func (s *Sink) rootEnded(traceID string) bool {
	t := mergeTrace(s.Posts(), traceID)
	r := t.root()
	return r != nil && spanEnded(r)
}
