package dap

import (
	"context"
	"time"
)

// valuelessContext keeps the deadline and cancellation of its parent but
// none of its values. A fetch for a listing runs under it, so nothing the
// fetch does joins the caller's trace: neither the OpenTelemetry span nor
// the Genkit span state of the caller is visible to it.
type valuelessContext struct {
	parent context.Context
}

func (c valuelessContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c valuelessContext) Done() <-chan struct{}       { return c.parent.Done() }
func (c valuelessContext) Err() error                  { return c.parent.Err() }
func (c valuelessContext) Value(any) any               { return nil }

// AfterFunc lets contexts derived from c be cancelled with the parent
// without a goroutine per derived context (the context package looks for
// this method).
func (c valuelessContext) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.parent, f)
}

func (c valuelessContext) String() string { return "dap.valuelessContext" }
