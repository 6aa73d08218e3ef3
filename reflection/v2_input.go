package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
)

// Bounds on buffered bidirectional input, per connection.
const (
	// maxInputChunks is how many input chunks a run may have buffered and
	// not yet consumed; one more cancels the run with RESOURCE_EXHAUSTED.
	maxInputChunks = 1024
	// maxPendingChunks and maxPendingRuns bound the input that arrives for
	// a request id with no run yet; more is dropped. maxPendingChunks must
	// not exceed maxInputChunks.
	maxPendingChunks = 256
	maxPendingRuns   = 64
	// maxFinished is how many finished request ids are remembered, so that
	// input arriving after its run is dropped rather than buffered.
	maxFinished = 256
)

// errInputOverflow is the cause of a run cancelled because its input
// arrived faster than it consumed it.
var errInputOverflow = errors.New("input stream buffer is full")

// inputStreams owns the input streams of one connection's runs: it routes
// each sendInputStreamChunk and endInputStream to the run of its request
// id, buffers (within bounds) the input that arrives before its run
// starts, drops the input of runs that have finished or take none, and
// cancels a run whose unread input overflows. Its methods are called on the
// read loop, except close, called when a run ends.
type inputStreams struct {
	logger *slog.Logger

	mu            sync.Mutex // guards every field below
	streams       map[string]*inputStream
	pending       map[string]*pendingInput
	pendingChunks int
	finished      []string // recently finished request ids, oldest first
}

// inputStream is the input stream of one run in progress: the channel the
// run reads, closed when the manager ends the input. A run that takes no
// input has one with a nil channel, so that its input is dropped rather
// than buffered.
type inputStream struct {
	ch     chan json.RawMessage // nil when the run has no input stream
	ended  bool                 // ch closed, or no more input accepted
	cancel context.CancelCauseFunc
}

// pendingInput is input for a request id that has no run yet.
type pendingInput struct {
	chunks []json.RawMessage
	ended  bool
}

func newInputStreams(logger *slog.Logger) *inputStreams {
	return &inputStreams{logger: logger, streams: map[string]*inputStream{}, pending: map[string]*pendingInput{}}
}

// open starts the input of the run rid, which takes an input stream when
// streamInput is set, and returns the channel the run reads, nil when it
// takes none. Input that arrived for rid before is delivered first. cancel
// cancels the run, on overflow.
func (in *inputStreams) open(rid string, streamInput bool, cancel context.CancelCauseFunc) <-chan json.RawMessage {
	is := &inputStream{cancel: cancel}
	if streamInput {
		is.ch = make(chan json.RawMessage, maxInputChunks)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.streams[rid] = is
	if pi := in.pending[rid]; pi != nil {
		delete(in.pending, rid)
		in.pendingChunks -= len(pi.chunks)
		if is.ch != nil {
			for _, c := range pi.chunks {
				is.ch <- c // cannot block: maxPendingChunks <= maxInputChunks
			}
			if pi.ended {
				close(is.ch)
				is.ended = true
			}
		}
	}
	if is.ch == nil {
		return nil
	}
	return is.ch
}

// close forgets the finished run rid, remembering its id for a while so
// that late input for it is dropped.
func (in *inputStreams) close(rid string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.streams, rid)
	if len(in.finished) == maxFinished {
		in.finished = slices.Delete(in.finished, 0, 1)
	}
	in.finished = append(in.finished, rid)
}

// chunk feeds an input chunk to the run rid, or buffers it until that run
// starts.
func (in *inputStreams) chunk(rid string, chunk json.RawMessage) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch is := in.streams[rid]; {
	case is != nil:
		if is.ch == nil || is.ended {
			in.logger.Debug("input chunk for a run that takes no more input; dropped", "requestId", rid)
			return
		}
		select {
		case is.ch <- chunk:
		default:
			is.ended = true
			is.cancel(errInputOverflow)
			in.logger.Warn("input stream overflow; cancelling the run", "requestId", rid, "limit", maxInputChunks)
		}
	case slices.Contains(in.finished, rid):
		in.logger.Debug("input chunk for a finished run; dropped", "requestId", rid)
	default:
		pi := in.pendingFor(rid)
		switch {
		case pi == nil || in.pendingChunks >= maxPendingChunks:
			in.logger.Warn("too much input for runs not started; chunk dropped", "requestId", rid)
		case pi.ended:
			in.logger.Debug("input chunk after endInputStream; dropped", "requestId", rid)
		default:
			pi.chunks = append(pi.chunks, chunk)
			in.pendingChunks++
		}
	}
}

// end closes the input stream of the run rid, or marks the input buffered
// for it as complete.
func (in *inputStreams) end(rid string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch is := in.streams[rid]; {
	case is != nil:
		if is.ch != nil && !is.ended {
			close(is.ch)
			is.ended = true
		}
	case slices.Contains(in.finished, rid):
	default:
		if pi := in.pendingFor(rid); pi != nil {
			pi.ended = true
		} else {
			in.logger.Warn("too much input for runs not started; end of input dropped", "requestId", rid)
		}
	}
}

// pendingFor returns the pending input of rid, creating it if there is
// room. in.mu is held.
func (in *inputStreams) pendingFor(rid string) *pendingInput {
	if pi := in.pending[rid]; pi != nil {
		return pi
	}
	if len(in.pending) >= maxPendingRuns {
		return nil
	}
	pi := &pendingInput{}
	in.pending[rid] = pi
	return pi
}
