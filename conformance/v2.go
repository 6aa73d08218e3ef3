package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// runtime returns the most recently registered v2 runtime, waiting for
// one to (re)connect.
func (r *runner) runtime(ctx context.Context) (*v2manager.Runtime, error) {
	wait := runtimeWait
	if r.v2Down {
		wait = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rt, err := r.t.Manager.WaitRuntime(ctx, "")
	if err != nil {
		r.v2Down = true
		return nil, fmt.Errorf("no v2 runtime connected: %w", err)
	}
	r.v2Down = false
	if _, seen := r.registerViolations[rt]; !seen {
		if r.registerViolations == nil {
			r.registerViolations = map[*v2manager.Runtime]int{}
		}
		r.registerViolations[rt] = len(rt.ProtocolErrors())
	}
	return rt, nil
}

// parseRPCID decodes a request id given in a case: a string or a
// non-negative integer.
func parseRPCID(raw json.RawMessage) (v2manager.ID, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return v2manager.ID{}, errors.New("id must not be empty")
		}
		return v2manager.StringID(s), nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n == 0 {
		return v2manager.ID{}, fmt.Errorf("id %s: want a non-empty string or a positive integer", raw)
	}
	return v2manager.NumberID(n), nil
}

// received returns the frames rt sent since index from, decoded.
func (r *runner) received(rt *v2manager.Runtime, from int) []map[string]any {
	var out []map[string]any
	msgs := r.t.Messages.Messages()
	if from > len(msgs) {
		from = len(msgs)
	}
	for _, m := range msgs[from:] {
		if m.Runtime != rt || m.Direction != v2manager.Received {
			continue
		}
		v, err := decodeJSON(m.Data)
		if err != nil {
			out = append(out, map[string]any{"invalid": string(m.Data)})
			continue
		}
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		} else {
			out = append(out, map[string]any{"notAnObject": v})
		}
	}
	return out
}

// sameID reports whether a decoded message id equals id.
func sameID(v any, id v2manager.ID) bool {
	switch t := v.(type) {
	case string:
		return !id.IsNumber() && t == id.String()
	case json.Number:
		return id.IsNumber() && t.String() == id.String()
	}
	return false
}

// isResponse reports whether a decoded message is a response.
func isResponse(m map[string]any) bool {
	_, method := m["method"]
	_, res := m["result"]
	_, e := m["error"]
	return !method && (res || e)
}

// errorObservation describes an error from the manager: the JSON-RPC
// error of a response, or why there was none.
func errorObservation(err error, obs map[string]any) {
	var e *v2manager.Error
	if errors.As(err, &e) {
		eo := map[string]any{"code": e.Code, "message": e.Message}
		if e.Data != nil {
			if v, err := decodeJSON(e.Data); err == nil {
				eo["data"] = v
			}
		}
		obs["error"] = eo
		return
	}
	if errors.Is(err, v2manager.ErrDisconnected) {
		obs["disconnected"] = true
	}
	obs["transportError"] = err.Error()
}

// startV2 sends runAction. When wantTrace is set it returns once the run
// has announced its trace id (runActionState) or ended.
func (cr *caseRun) startV2(ctx context.Context, rs *RunStep, timeout time.Duration, wantTrace bool) (*bgRun, error) {
	r := cr.r
	rt, err := r.runtime(ctx)
	if err != nil {
		return nil, err
	}
	req := &v2manager.RunRequest{Key: rs.Key, TelemetryLabels: rs.TelemetryLabels, RuntimeID: rs.RuntimeID,
		Stream: rs.Stream, StreamInput: len(rs.InputStream) > 0}
	if rs.Input != nil {
		req.Input = rs.Input
	}
	if rs.Init != nil {
		req.Init = rs.Init
	}
	if rs.Context != nil {
		req.Context = rs.Context
	}
	var mu sync.Mutex // guards stateAt and chunkAt
	var stateAt, chunkAt time.Time
	cb := &v2manager.RunCallbacks{
		OnState: func(v2manager.RunState) {
			mu.Lock()
			if stateAt.IsZero() {
				stateAt = time.Now()
			}
			mu.Unlock()
		},
		OnChunk: func(json.RawMessage) {
			mu.Lock()
			if chunkAt.IsZero() {
				chunkAt = time.Now()
			}
			mu.Unlock()
		},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	b := &bgRun{cancel: cancel, done: make(chan struct{})}
	from := r.t.Messages.Len()
	violations := len(rt.ProtocolErrors())
	run, err := rt.StartAction(ctx, req, cb)
	if err != nil {
		obs := map[string]any{}
		errorObservation(err, obs)
		b.obs = obs
		close(b.done)
		return b, nil
	}
	if wantTrace || len(rs.InputStream) > 0 {
		select {
		case <-run.Started():
		case <-ctx.Done():
		}
		b.traceID = run.TraceID()
	}
	go func() {
		defer close(b.done)
		obs := map[string]any{}
		for _, c := range rs.InputStream {
			if err := run.SendInput(ctx, c); err != nil {
				obs["inputError"] = err.Error()
				break
			}
		}
		if len(rs.InputStream) > 0 {
			if err := run.EndInput(ctx); err != nil {
				obs["inputError"] = err.Error()
			}
		}
		res, err := run.Wait(ctx)
		endAt := time.Now()
		traceID := run.TraceID()
		if traceID != "" {
			obs["traceId"] = traceID
		}
		mu.Lock()
		if !stateAt.IsZero() {
			obs["earlyTraceIdMs"] = endAt.Sub(stateAt).Milliseconds()
		}
		if !chunkAt.IsZero() {
			obs["earlyChunkMs"] = endAt.Sub(chunkAt).Milliseconds()
		}
		mu.Unlock()
		states := run.States()
		obs["states"] = states
		chunks := []any{}
		for _, c := range run.Chunks() {
			v, err := decodeJSON(c)
			if err != nil {
				v = "<not JSON>"
			}
			chunks = append(chunks, v)
		}
		obs["chunks"] = chunks
		// The exchange as it went over the wire.
		order := []any{}
		var response map[string]any
		for _, m := range r.received(rt, from) {
			switch {
			case isResponse(m) && sameID(m["id"], run.ID()):
				order = append(order, "response")
				response = m
			case m["method"] == "runActionState" || m["method"] == "streamChunk":
				if p, _ := m["params"].(map[string]any); p != nil && p["requestId"] == run.ID().String() {
					order = append(order, m["method"])
				}
			}
		}
		obs["order"] = order
		if response != nil {
			obs["response"] = response
		}
		switch {
		case err == nil:
			if v, derr := decodeJSON(res.Raw); derr == nil {
				obs["final"] = v
			}
		default:
			errorObservation(err, obs)
			var e *v2manager.Error
			if errors.As(err, &e) {
				// An action error carries the run's Status, the same final
				// outcome v1 reports as {"error": Status}.
				if _, ok := e.Status(); ok && errors.Is(err, v2manager.ErrAction) {
					obs["final"] = map[string]any{"error": obs["error"].(map[string]any)["data"]}
				}
			} else if response != nil {
				// The manager rejected the result as the CLI would; show it.
				obs["rejected"] = err.Error()
				if v, ok := response["result"]; ok {
					obs["final"] = v
				}
			}
		}
		if traceID == "" {
			if f, ok := obs["final"]; ok {
				if v, ok, _ := lookup(normalize(f), "telemetry.traceId"); ok {
					traceID, _ = v.(string)
				}
			}
		}
		if traceID != "" {
			obs["exportedAtEnd"] = r.t.Sink.rootEnded(traceID)
		}
		if v := rt.ProtocolErrors(); len(v) > violations {
			var s []string
			for _, e := range v[violations:] {
				s = append(s, e.Error())
			}
			obs["violations"] = s
		} else {
			obs["violations"] = []string{}
		}
		b.obs = obs
	}()
	return b, nil
}

// rpc sends a request with raw params (nil leaves them out) and an
// optional id, and observes the answer.
func (cr *caseRun) rpc(ctx context.Context, method string, params, rawID json.RawMessage) (map[string]any, error) {
	r := cr.r
	rt, err := r.runtime(ctx)
	if err != nil {
		return nil, err
	}
	opts := []v2manager.CallOption{v2manager.WithTimeout(DefaultRunTimeout)}
	if rawID != nil {
		id, err := parseRPCID(rawID)
		if err != nil {
			return nil, err
		}
		opts = append(opts, v2manager.WithID(id))
	}
	var p any
	if params != nil {
		p = params
	}
	from := r.t.Messages.Len()
	var res json.RawMessage
	err = rt.Call(ctx, method, p, &res, opts...)
	obs := map[string]any{}
	if err != nil {
		errorObservation(err, obs)
	} else if v, derr := decodeJSON(res); derr == nil {
		obs["result"] = v
	}
	for _, m := range r.received(rt, from) {
		if isResponse(m) {
			obs["response"] = m
			break
		}
	}
	if err == nil {
		// Ask again through the manager's validating calls: would the CLI
		// accept this result?
		var verr error
		switch method {
		case "listActions":
			_, verr = rt.ListActions(ctx)
		case "listValues":
			var p struct {
				Type string `json:"type"`
			}
			json.Unmarshal(params, &p)
			_, verr = rt.ListValues(ctx, p.Type)
		default:
			return obs, nil
		}
		obs["cliAccepts"] = verr == nil
		if verr != nil {
			obs["cliRejects"] = verr.Error()
		}
	}
	return obs, nil
}

// notify sends a notification and watches, for settleMs, for answers the
// runtime must not send.
func (cr *caseRun) notify(ctx context.Context, method string, params json.RawMessage, settleMs int) (map[string]any, error) {
	r := cr.r
	rt, err := r.runtime(ctx)
	if err != nil {
		return nil, err
	}
	from := r.t.Messages.Len()
	violations := len(rt.ProtocolErrors())
	var p any
	if params != nil {
		p = params
	}
	obs := map[string]any{}
	if err := rt.Notify(ctx, method, p); err != nil {
		obs["transportError"] = err.Error()
	}
	settle := defaultSettle
	if settleMs > 0 {
		settle = time.Duration(settleMs) * time.Millisecond
	}
	// Nothing marks the end of a notification's handling; wait for what
	// an answer would take.
	t := time.NewTimer(settle)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	responses := []any{}
	for _, m := range r.received(rt, from) {
		if isResponse(m) {
			responses = append(responses, m)
		}
	}
	obs["responses"] = responses
	var s []string
	for _, e := range rt.ProtocolErrors()[violations:] {
		s = append(s, e.Error())
	}
	obs["violations"] = nonNil(s)
	select {
	case <-rt.Done():
		obs["disconnected"] = true
	default:
		obs["disconnected"] = false
	}
	return obs, nil
}

// register observes the runtime's register request and the manager's
// answer.
func (cr *caseRun) register(ctx context.Context) (map[string]any, error) {
	r := cr.r
	rt, err := r.runtime(ctx)
	if err != nil {
		return nil, err
	}
	info := rt.Info()
	obs := map[string]any{"info": map[string]any{"id": info.ID, "pid": info.PID, "name": info.Name,
		"genkitVersion": info.GenkitVersion, "reflectionApiSpecVersion": info.ReflectionAPISpecVersion, "envs": info.Envs}}
	var reqID any
	for _, m := range r.t.Messages.Messages() {
		if m.Runtime != rt {
			continue
		}
		v, err := decodeJSON(m.Data)
		if err != nil {
			continue
		}
		o, _ := v.(map[string]any)
		if o == nil {
			continue
		}
		switch {
		case m.Direction == v2manager.Received && o["method"] == "register" && obs["request"] == nil:
			obs["request"] = o
			reqID = o["id"]
		case m.Direction == v2manager.Sent && reqID != nil && isResponse(o) && o["id"] == reqID:
			obs["response"] = o
		}
	}
	// Only the violations of the register exchange: later ones belong to
	// the cases that caused them.
	var s []string
	for _, e := range rt.ProtocolErrors()[:r.registerViolations[rt]] {
		s = append(s, e.Error())
	}
	obs["violations"] = nonNil(s)
	return obs, nil
}
