// Package traceexport sends spans to a Genkit telemetry server, the way the
// Genkit SDKs do: each batch is POSTed to <url>/api/traces as one TraceData
// (github.com/genkit-runtime/genkit-runtime/tracestore) per trace.
//
// An [Exporter] is an OpenTelemetry span processor that never blocks the
// code being traced: spans are queued (bounded, dropping when full) and
// sent by background goroutines (one by default, Options.Concurrency) with a
// short per-request timeout. Its destination can be changed at run time
// ([Exporter.SetURL]), and [Exporter.FlushTrace] lets a caller wait, within
// a deadline, until one trace has reached the server; it stops waiting for
// a server that stalls or fails (Options.StallTimeout).
package traceexport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// Defaults of [Options].
const (
	// DefaultQueueSize is the number of span states that may wait to be
	// sent.
	DefaultQueueSize = 4096
	// DefaultTimeout bounds each POST.
	DefaultTimeout = 2 * time.Second
	// DefaultStallTimeout is how long a POST may run before the server
	// counts as stalled (see Options.StallTimeout).
	DefaultStallTimeout = 250 * time.Millisecond
)

// logEvery rate-limits the warnings about dropped spans and failed posts.
const logEvery = 10 * time.Second

// maxErrorBody bounds how much of an error response is read and logged.
const maxErrorBody = 4 << 10

// Options configures an [Exporter]. A nil *Options gives the defaults.
type Options struct {
	// URL is the telemetry server's base URL, such as
	// "http://localhost:4033". If empty, the exporter is disabled until
	// SetURL gives it one.
	URL string
	// Realtime also exports each span when it starts (with endTime 0), as
	// Genkit's realtime span processor does. Otherwise spans are exported
	// when they end.
	Realtime bool
	// QueueSize bounds the span states waiting to be sent; beyond it new
	// ones are dropped and counted. If zero or negative, DefaultQueueSize.
	QueueSize int
	// Timeout bounds each POST. If zero or negative, DefaultTimeout.
	Timeout time.Duration
	// Concurrency is how many POSTs may be in flight at once, each for a
	// different trace; the posts of one trace are always made one at a
	// time, in queue order. If zero or negative, 1.
	Concurrency int
	// Linger holds the queued start states of a trace (Realtime) for up to
	// this long before they are sent, so a span that ends meanwhile is
	// sent once, in its end state. Ended spans, and traces a FlushTrace
	// waits for, are sent without delay. If zero or negative, nothing
	// lingers.
	Linger time.Duration
	// StallTimeout is how long a POST may run before the telemetry server
	// counts as stalled. While it is stalled, and after a POST failed
	// until one succeeds again, FlushTrace stops waiting and returns nil:
	// a server that hangs or is gone must not hold up the runs whose
	// traces it would receive. Spans are still queued and sent. If zero,
	// DefaultStallTimeout; if negative, FlushTrace always waits.
	StallTimeout time.Duration
	// Client sends the requests. If nil, the exporter uses its own
	// keep-alive client without a proxy, and closes its idle connections on
	// Shutdown.
	Client *http.Client
	// Logger receives rate-limited warnings about dropped spans and failed
	// posts. If nil, nothing is logged.
	Logger *slog.Logger
}

// Stats are an [Exporter]'s counters. Counts are of span states: a span
// exported at start and at end counts twice, unless the two were coalesced.
type Stats struct {
	// Enqueued counts span states accepted into the queue.
	Enqueued uint64
	// Coalesced counts start states replaced, while still queued, by the
	// end of the same span.
	Coalesced uint64
	// Dropped counts span states refused because the queue was full.
	Dropped uint64
	// Discarded counts queued span states thrown away because the URL was
	// cleared or the exporter was shut down before they could be sent.
	Discarded uint64
	// Posts counts successful POSTs; SentSpans the span states they held.
	Posts     uint64
	SentSpans uint64
	// Failures counts failed POSTs (network error, timeout or a non-2xx
	// answer); FailedSpans the span states they held. Failed posts are not
	// retried.
	Failures    uint64
	FailedSpans uint64
	// Queued is the number of span states waiting now.
	Queued int
}

// Exporter is a [sdktrace.SpanProcessor] that sends spans to a Genkit
// telemetry server. Create it with [New] and stop it with
// [Exporter.Shutdown]. Its methods are safe for concurrent use.
//
// OnStart and OnEnd only queue: the spans queued for one trace are sent
// together in one POST, and a span whose start and end are both still
// queued is sent once, in its end state. Up to Options.Concurrency posts
// are in flight at once, each for a different trace; the posts of one
// trace are made one at a time, in queue order. Posts are never retried.
type Exporter struct {
	realtime     bool
	queueSize    int
	timeout      time.Duration
	concurrency  int
	linger       time.Duration
	stallTimeout time.Duration
	client       *http.Client
	ownClient    bool
	log          *slog.Logger

	// active is true while a URL is set and the exporter is running; it
	// lets OnStart skip converting spans that would not be queued.
	active atomic.Bool

	mu  sync.Mutex // guards every field below
	url string
	// pending holds, per trace, the span states not yet taken by the
	// sender; fifo orders the traces that have some.
	pending map[string]*pendingTrace
	fifo    []string
	// flush tracks, per trace with unsent work, the last sequence number
	// queued and the last one finished (sent, failed or discarded).
	flush map[string]*flushState
	seq   uint64
	// inflight holds the traces being posted and when each post started.
	inflight map[string]time.Time
	// failing is set when the last finished post failed and cleared when
	// one succeeds.
	failing bool
	// failed is closed, and replaced, whenever a post fails, so that
	// waiters notice the server is unhealthy. Waiters for one trace are
	// woken through its flushState instead.
	failed   chan struct{}
	stopping bool
	stats    Stats
	dropLog  logLimiter
	errLog   logLimiter

	wake      chan struct{}      // buffered(1): work was queued or a trace freed
	stop      chan struct{}      // closed by Shutdown: drain and exit
	abort     context.CancelFunc // cancels the senders' context: in-flight and later posts
	senders   sync.WaitGroup     // the sender goroutines
	done      chan struct{}      // closed when every sender has exited
	closeOnce sync.Once
	closeErr  error
}

type pendingTrace struct {
	spans  map[string]*pendingSpan
	order  []string
	maxSeq uint64
	// first is when the oldest queued state was queued; ended reports
	// that some queued state is an ended span; waiters counts FlushTrace
	// calls waiting for this trace.
	first   time.Time
	ended   bool
	waiters int
}

// pendingSpan is one queued span state: the started span, or the ended
// span. Both are converted by the sender: a started span as it is then,
// still running (endTime 0); most end before they are sent, and are sent
// once, ended.
type pendingSpan struct {
	start sdktrace.ReadWriteSpan
	end   sdktrace.ReadOnlySpan
}

type flushState struct {
	queued uint64
	done   uint64
	// wake, made by the first waiter that needs it, is closed when a post
	// of the trace finishes; only the waiters of this trace wake.
	wake chan struct{}
}

// wakeLocked wakes the waiters of fs. e.mu is held.
func (fs *flushState) wakeLocked() {
	if fs.wake != nil {
		close(fs.wake)
		fs.wake = nil
	}
}

// waitChanLocked returns the channel closed when a post of fs's trace
// finishes. e.mu is held.
func (fs *flushState) waitChanLocked() <-chan struct{} {
	if fs.wake == nil {
		fs.wake = make(chan struct{})
	}
	return fs.wake
}

var _ sdktrace.SpanProcessor = (*Exporter)(nil)

// New returns a running Exporter configured by opts, which may be nil. Its
// sender goroutines run until [Exporter.Shutdown].
func New(opts *Options) *Exporter {
	var o Options
	if opts != nil {
		o = *opts
	}
	e := &Exporter{
		realtime:  o.Realtime,
		queueSize: o.QueueSize,
		timeout:   o.Timeout,
		client:    o.Client,
		log:       o.Logger,
		url:       o.URL,
		pending:   make(map[string]*pendingTrace),
		flush:     make(map[string]*flushState),
		inflight:  make(map[string]time.Time),
		failed:    make(chan struct{}),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if e.queueSize <= 0 {
		e.queueSize = DefaultQueueSize
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	e.concurrency = max(o.Concurrency, 1)
	e.linger = max(o.Linger, 0)
	switch {
	case o.StallTimeout == 0:
		e.stallTimeout = DefaultStallTimeout
	case o.StallTimeout > 0:
		e.stallTimeout = o.StallTimeout
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = max(4, e.concurrency)
		e.client = &http.Client{Transport: tr}
		e.ownClient = true
	}
	e.active.Store(e.url != "")
	// The senders' context is the exporter's own: no caller's context
	// bounds the exporter's life, which ends with Shutdown, and each post is
	// bounded by its own timeout. It is the one root context made here.
	ctx, abort := context.WithCancel(context.Background())
	e.abort = abort
	for range e.concurrency {
		e.senders.Go(func() { e.run(ctx) })
	}
	go func() {
		e.senders.Wait()
		close(e.done)
	}()
	return e
}

// SetURL points the exporter at another telemetry server. Span states
// already queued go to the new URL. An empty url disables the exporter:
// new spans are ignored and queued ones discarded.
func (e *Exporter) SetURL(url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.url = url
	e.active.Store(url != "" && !e.stopping)
	e.signal()
}

// URL returns the current telemetry server URL, empty when disabled.
func (e *Exporter) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.url
}

// OnStart queues the starting span (endTime 0) when the exporter is
// realtime. It never blocks on the network. It implements
// [sdktrace.SpanProcessor].
func (e *Exporter) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if !e.realtime || !e.active.Load() {
		return
	}
	sc := s.SpanContext()
	e.enqueue(sc.TraceID().String(), sc.SpanID().String(), &pendingSpan{start: s})
}

// OnEnd queues the ended span. It never blocks on the network. It
// implements [sdktrace.SpanProcessor].
func (e *Exporter) OnEnd(s sdktrace.ReadOnlySpan) {
	if !e.active.Load() {
		return
	}
	sc := s.SpanContext()
	e.enqueue(sc.TraceID().String(), sc.SpanID().String(), &pendingSpan{end: s})
}

func (e *Exporter) enqueue(traceID, spanID string, ps *pendingSpan) {
	var dropped, suppressed int
	e.mu.Lock()
	if e.url == "" || e.stopping {
		e.mu.Unlock()
		return
	}
	pt := e.pending[traceID]
	old := (*pendingSpan)(nil)
	if pt != nil {
		old = pt.spans[spanID]
	}
	switch {
	case old != nil:
		// Replace the queued state; an end supersedes a queued start.
		if ps.end != nil && old.start != nil && old.end == nil {
			e.stats.Coalesced++
		}
		*old = *ps
	case e.stats.Queued >= e.queueSize:
		e.stats.Dropped++
		var ok bool
		if ok, suppressed = e.dropLog.allow(time.Now()); ok {
			dropped = int(e.stats.Dropped)
		}
		e.mu.Unlock()
		if dropped > 0 {
			e.log.Warn("traceexport: queue full; dropping spans",
				"queueSize", e.queueSize, "droppedTotal", dropped, "suppressedWarnings", suppressed)
		}
		return
	default:
		if pt == nil {
			pt = &pendingTrace{spans: make(map[string]*pendingSpan)}
			e.pending[traceID] = pt
			e.fifo = append(e.fifo, traceID)
		}
		if len(pt.spans) == 0 {
			pt.first = time.Now()
		}
		pt.spans[spanID] = ps
		pt.order = append(pt.order, spanID)
		e.stats.Queued++
	}
	if ps.end != nil {
		pt.ended = true
	}
	e.stats.Enqueued++
	e.seq++
	pt.maxSeq = e.seq
	fs := e.flush[traceID]
	if fs == nil {
		// Everything queued earlier for this trace has finished.
		fs = &flushState{done: e.seq - 1}
		e.flush[traceID] = fs
	}
	fs.queued = e.seq
	e.signal()
	e.mu.Unlock()
}

// signal wakes the sender. The caller holds e.mu or owns no state.
func (e *Exporter) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run is a sender goroutine: it takes the oldest trace with queued spans
// that is ready (see pickLocked) and not being posted by another sender, and
// posts its spans, until Shutdown has been called and the queue is empty.
// Its posts are made in ctx, which Shutdown cancels when its own context
// ends first.
func (e *Exporter) run(ctx context.Context) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		e.mu.Lock()
		var traceID string
		for {
			var wait time.Duration
			traceID, wait = e.pickLocked(time.Now())
			if traceID != "" {
				break
			}
			if e.stopping && len(e.fifo) == 0 {
				e.mu.Unlock()
				e.signal() // let the other senders see the queue is empty
				return
			}
			// Once stopping, stop is closed for good; wait for wake, which
			// every finished post sends then.
			stop := e.stop
			if e.stopping {
				stop = nil
			}
			e.mu.Unlock()
			var tc <-chan time.Time
			if wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				tc = timer.C
			}
			select {
			case <-e.wake:
			case <-stop:
			case <-tc:
			}
			e.mu.Lock()
		}
		pt := e.pending[traceID]
		delete(e.pending, traceID)
		e.stats.Queued -= len(pt.spans)
		e.inflight[traceID] = time.Now()
		url := e.url
		more := len(e.fifo) > 0
		e.mu.Unlock()
		if more {
			e.signal() // another sender may take the next trace
		}

		n := uint64(len(pt.spans))
		var err error
		outcome := "discarded"
		if url != "" && ctx.Err() == nil {
			err = e.post(ctx, url, traceID, pt)
			outcome = "sent"
			if err != nil {
				outcome = "failed"
			}
		}
		e.finish(traceID, pt.maxSeq, n, outcome, err)
	}
}

// pickLocked removes from the queue and returns the first trace that is
// not being posted and is ready: it holds an ended span, a FlushTrace waits
// for it, its oldest state has lingered long enough, or the exporter is
// stopping. Otherwise it returns "" and how long until a lingering trace
// becomes ready (0: no such trace). e.mu is held.
func (e *Exporter) pickLocked(now time.Time) (string, time.Duration) {
	var wait time.Duration
	for i, id := range e.fifo {
		if _, busy := e.inflight[id]; busy {
			continue
		}
		pt := e.pending[id]
		if !pt.ended && pt.waiters == 0 && !e.stopping && e.linger > 0 {
			if left := pt.first.Add(e.linger).Sub(now); left > 0 {
				if wait == 0 || left < wait {
					wait = left
				}
				continue
			}
		}
		if i == 0 {
			e.fifo = e.fifo[1:]
		} else {
			e.fifo = append(e.fifo[:i], e.fifo[i+1:]...)
		}
		return id, 0
	}
	return "", wait
}

// finish records the outcome of one trace batch and wakes flush waiters.
func (e *Exporter) finish(traceID string, seq, n uint64, outcome string, err error) {
	var logIt bool
	var suppressed int
	e.mu.Lock()
	delete(e.inflight, traceID)
	switch outcome {
	case "sent":
		e.stats.Posts++
		e.stats.SentSpans += n
		e.failing = false
	case "failed":
		e.stats.Failures++
		e.stats.FailedSpans += n
		e.failing = true
		close(e.failed)
		e.failed = make(chan struct{})
		logIt, suppressed = e.errLog.allow(time.Now())
	default:
		e.stats.Discarded += n
	}
	if _, queued := e.pending[traceID]; queued || e.stopping {
		// More of this trace was queued while it was in flight, or the
		// senders are draining.
		e.signal()
	}
	if fs := e.flush[traceID]; fs != nil {
		fs.done = seq
		fs.wakeLocked()
		if fs.done >= fs.queued {
			delete(e.flush, traceID)
		}
	}
	failures := e.stats.Failures
	e.mu.Unlock()
	if logIt {
		e.log.Warn("traceexport: export failed", "traceId", traceID, "spans", n, "err", err,
			"failuresTotal", failures, "suppressedWarnings", suppressed)
	}
}

// appendBatch appends the TraceData JSON of a queued batch to dst. The
// trace-level fields are set only when the batch holds a root span, as
// the Genkit exporters do. A start state is written as the span was when
// it started: it may have ended meanwhile, its end being queued after this
// batch was taken.
func appendBatch(dst []byte, traceID string, pt *pendingTrace) []byte {
	return tracestore.AppendTraceJSON(dst, traceID, len(pt.order), func(i int) (sdktrace.ReadOnlySpan, bool) {
		ps := pt.spans[pt.order[i]]
		if ps.end != nil {
			return ps.end, false
		}
		return ps.start, true
	})
}

// bodyCap is the initial capacity of a post body, enough for a run's span
// with a kilobyte of input and output.
const bodyCap = 4 << 10

// post sends the batch pt of traceID to url/api/traces, as one TraceData.
func (e *Exporter) post(ctx context.Context, url, traceID string, pt *pendingTrace) error {
	// The body is not reused: the transport may read it again (GetBody)
	// or still hold it when Do returns.
	body := appendBatch(make([]byte, 0, bodyCap), traceID, pt)
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	endpoint := strings.TrimSuffix(url, "/") + "/api/traces"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// The answer ("OK") is read to its end, so that the connection is
		// kept for the next post, but not kept.
		if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)); err != nil {
			return fmt.Errorf("reading response: %w", err)
		}
		return nil
	}
	msg, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	return fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, bytes.TrimSpace(msg))
}

// FlushTrace waits until every span state of traceID queued before the
// call has been sent, or has failed, or was discarded. States that linger
// (Options.Linger) are sent at once. It returns ctx.Err() if ctx ends
// first; a failed send is not an error here (see Stats). It returns nil
// without waiting further while the telemetry server is stalled or failing
// (Options.StallTimeout).
func (e *Exporter) FlushTrace(ctx context.Context, traceID string) error {
	e.mu.Lock()
	fs := e.flush[traceID]
	if fs == nil {
		e.mu.Unlock()
		return nil
	}
	target := fs.queued
	if pt := e.pending[traceID]; pt != nil {
		pt.waiters++
		defer func() {
			e.mu.Lock()
			pt.waiters--
			e.mu.Unlock()
		}()
		if !pt.ended && e.linger > 0 {
			e.signal()
		}
	}
	e.mu.Unlock()
	return e.wait(ctx, func() (bool, <-chan struct{}) {
		fs := e.flush[traceID]
		if fs == nil || fs.done >= target || e.unhealthyLocked(time.Now()) {
			return true, nil
		}
		return false, fs.waitChanLocked()
	})
}

// unhealthyLocked reports whether the last post failed, or a post has been
// in flight for longer than the stall timeout. e.mu is held.
func (e *Exporter) unhealthyLocked(now time.Time) bool {
	if e.stallTimeout <= 0 {
		return false
	}
	if e.failing {
		return true
	}
	for _, since := range e.inflight {
		if now.Sub(since) > e.stallTimeout {
			return true
		}
	}
	return false
}

// ForceFlush waits like [Exporter.FlushTrace] for every trace. It
// implements [sdktrace.SpanProcessor].
func (e *Exporter) ForceFlush(ctx context.Context) error {
	e.mu.Lock()
	targets := make(map[string]uint64, len(e.flush))
	for id, fs := range e.flush {
		targets[id] = fs.queued
	}
	e.mu.Unlock()
	return e.wait(ctx, func() (bool, <-chan struct{}) {
		for id, target := range targets {
			if fs := e.flush[id]; fs != nil && fs.done < target {
				return false, fs.waitChanLocked()
			}
		}
		return true, nil
	})
}

// wait blocks until cond, evaluated under e.mu, holds or ctx ends. When
// it does not hold, cond returns a channel closed when it may: cond is
// evaluated again then, when a post fails and, with a stall timeout, at
// least every quarter of it, so a stall is noticed.
func (e *Exporter) wait(ctx context.Context, cond func() (bool, <-chan struct{})) error {
	var tick <-chan time.Time
	for {
		e.mu.Lock()
		ok, changed := cond()
		failed := e.failed
		e.mu.Unlock()
		if ok {
			return nil
		}
		if tick == nil && e.stallTimeout > 0 {
			t := time.NewTicker(e.stallTimeout / 4)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-changed:
		case <-failed:
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Shutdown stops accepting spans, sends what is queued and stops the sender
// goroutine. If ctx ends first, the post in flight is cancelled, the rest
// of the queue is discarded, and ctx.Err() is returned once the sender has
// stopped. Later calls return the first call's result. It implements
// [sdktrace.SpanProcessor].
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.stopping = true
		e.active.Store(false)
		e.mu.Unlock()
		close(e.stop)
		select {
		case <-e.done:
		case <-ctx.Done():
			e.abort()
			<-e.done
			e.closeErr = ctx.Err()
		}
		e.abort()
		if e.ownClient {
			e.client.CloseIdleConnections()
		}
	})
	return e.closeErr
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// logLimiter allows one log line per logEvery and counts the suppressed
// ones. It is guarded by the exporter's mutex.
type logLimiter struct {
	last       time.Time
	suppressed int
}

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
