package otlp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// reportInterval is the least time between two reports of a lasting export
// failure.
const reportInterval = time.Minute

// reporter is a SpanExporter that reports the failures of the exporter it
// wraps through a logger, rate-limited, instead of returning them; and
// likewise the spans the endpoint rejected while accepting the export (an
// OTLP partial success), which do not make the export a failure.
type reporter struct {
	sdktrace.SpanExporter
	endpoint string // for the log lines, without credentials
	logger   *slog.Logger
	now      func() time.Time

	mu         sync.Mutex // guards the fields below
	failing    bool       // the last export failed
	since      time.Time  // when the current failure started
	lastReport time.Time  // when the current failure was last reported
	failures   int        // failed exports since the last report
	lost       int        // spans of those exports
	totalFails int        // failed exports since the failure started
	totalLost  int        // spans of those exports

	lastPartial time.Time // when a partial success was last reported
	partials    int       // partial successes since then
	rejected    int64     // spans they rejected
}

var _ sdktrace.SpanExporter = (*reporter)(nil)

// newReporter wraps exp; a nil logger reports nothing.
func newReporter(exp sdktrace.SpanExporter, endpoint string, logger *slog.Logger, now func() time.Time) *reporter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &reporter{SpanExporter: exp, endpoint: endpoint, logger: logger, now: now}
}

// ExportSpans exports spans with the wrapped exporter. A failure is
// reported (when it starts, then at most once per reportInterval) and
// accounted for, and nil is returned: the batch processor would hand the
// error to the global error handler, once per batch. The first success
// after a failure is reported once. A partial success is a success, whose
// rejected spans are reported (at most once per reportInterval).
func (r *reporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := r.SpanExporter.ExportSpans(ctx, spans)
	now := r.now()
	if ps, ok := errors.AsType[*partialSuccessError](err); ok {
		r.partial(ps, now)
		err = nil
	}
	r.mu.Lock()
	if err == nil {
		if !r.failing {
			r.mu.Unlock()
			return nil
		}
		outage, fails, lost := now.Sub(r.since), r.totalFails, r.totalLost
		r.failing, r.failures, r.lost, r.totalFails, r.totalLost = false, 0, 0, 0, 0
		r.mu.Unlock()
		r.logger.Info("OTLP export recovered", "endpoint", r.endpoint,
			"after", outage.Round(time.Millisecond), "failed_exports", fails, "lost_spans", lost)
		return nil
	}
	r.failures++
	r.lost += len(spans)
	r.totalFails++
	r.totalLost += len(spans)
	if !r.failing {
		r.failing, r.since, r.lastReport = true, now, now
		r.failures, r.lost = 0, 0
		r.mu.Unlock()
		r.logger.Warn("OTLP export failing; spans are dropped until it recovers", "endpoint", r.endpoint,
			"err", err, "lost_spans", len(spans))
		return nil
	}
	if now.Sub(r.lastReport) < reportInterval {
		r.mu.Unlock()
		return nil
	}
	since, fails, lost := now.Sub(r.since), r.failures, r.lost
	r.lastReport, r.failures, r.lost = now, 0, 0
	r.mu.Unlock()
	r.logger.Warn("OTLP export still failing", "endpoint", r.endpoint, "err", err,
		"for", since.Round(time.Second), "failed_exports", fails, "lost_spans", lost)
	return nil
}

// partial reports a partial success, at most once per reportInterval, with
// the spans rejected since the last report.
func (r *reporter) partial(ps *partialSuccessError, now time.Time) {
	r.mu.Lock()
	r.partials++
	r.rejected += ps.rejected
	if !r.lastPartial.IsZero() && now.Sub(r.lastPartial) < reportInterval {
		r.mu.Unlock()
		return
	}
	partials, rejected := r.partials, r.rejected
	r.lastPartial, r.partials, r.rejected = now, 0, 0
	r.mu.Unlock()
	r.logger.Warn("OTLP endpoint rejected spans", "endpoint", r.endpoint,
		"rejected_spans", rejected, "exports", partials, "message", ps.message)
}
