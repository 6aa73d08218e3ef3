package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Message is one message of a Genkit conversation.
type Message struct {
	Role     string         `json:"role"`
	Content  []Part         `json:"content"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Part is one part of a message. Only Text is interpreted here; the other
// kinds are carried through unchanged.
type Part struct {
	Text         string          `json:"text,omitempty"`
	Media        json.RawMessage `json:"media,omitempty"`
	ToolRequest  json.RawMessage `json:"toolRequest,omitempty"`
	ToolResponse json.RawMessage `json:"toolResponse,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	Custom       json.RawMessage `json:"custom,omitempty"`
	Reasoning    string          `json:"reasoning,omitempty"`
	Metadata     map[string]any  `json:"metadata,omitempty"`
}

// ModelRequest is a Genkit GenerateRequest.
type ModelRequest struct {
	Messages   []Message         `json:"messages"`
	Config     json.RawMessage   `json:"config,omitempty"`
	Tools      []json.RawMessage `json:"tools,omitempty"`
	ToolChoice string            `json:"toolChoice,omitempty"`
	Output     json.RawMessage   `json:"output,omitempty"`
	Docs       []json.RawMessage `json:"docs,omitempty"`
}

// ModelResponse is a Genkit GenerateResponse.
type ModelResponse struct {
	Message       *Message       `json:"message,omitempty"`
	FinishReason  string         `json:"finishReason,omitempty"`
	FinishMessage string         `json:"finishMessage,omitempty"`
	Usage         map[string]any `json:"usage,omitempty"`
	Custom        any            `json:"custom,omitempty"`
}

// ModelChunk is a streamed piece of a model response.
type ModelChunk struct {
	Role    string `json:"role,omitempty"`
	Index   int    `json:"index"`
	Content []Part `json:"content"`
}

// ModelSupports lists what a model can do, as listed in its metadata.
type ModelSupports struct {
	Multiturn  bool     `json:"multiturn"`
	Tools      bool     `json:"tools"`
	Media      bool     `json:"media"`
	SystemRole bool     `json:"systemRole"`
	Output     []string `json:"output,omitempty"`
}

// ModelInfo is a model's listed metadata ("metadata.model").
type ModelInfo struct {
	Label    string         `json:"label,omitempty"`
	Versions []string       `json:"versions,omitempty"`
	Supports *ModelSupports `json:"supports,omitempty"`
	Stage    string         `json:"stage,omitempty"`
}

// modelInputSchema accepts any object with a messages array; a model
// decides for itself what else it understands.
var modelInputSchema = &jsonschema.Schema{
	Type:       "object",
	Required:   []string{"messages"},
	Properties: map[string]*jsonschema.Schema{"messages": {Type: "array"}},
}

// DefineModel registers a model, "/model/<name>". Its metadata carries info
// as "model" and its description is info.Label, as Genkit lists models.
// send streams chunks when the caller asked for a stream and is a no-op
// otherwise.
func DefineModel(r *Registry, name string, info ModelInfo,
	fn func(ctx context.Context, req *ModelRequest, send func(*ModelChunk) error) (*ModelResponse, error)) (*Action, error) {
	md, err := toMap(info)
	if err != nil {
		return nil, err
	}
	opts := &ActionOptions{Description: info.Label, InputSchema: modelInputSchema}
	return define[json.RawMessage](r, "model", name, opts, nil, map[string]any{"model": md},
		func(ctx context.Context, req *Request) (any, error) {
			mr, err := decodeInput[ModelRequest](req)
			if err != nil {
				return nil, err
			}
			return fn(ctx, &mr, streamer[*ModelChunk](req))
		})
}

// evalInputSchema accepts any object with a dataset array: clients add
// fields (custom, batchSize) an evaluator may ignore.
var evalInputSchema = &jsonschema.Schema{
	Type:       "object",
	Required:   []string{"dataset"},
	Properties: map[string]*jsonschema.Schema{"dataset": {Type: "array"}, "evalRunId": {Type: "string"}},
}

// EvalDatapoint is one test case given to an evaluator.
type EvalDatapoint struct {
	TestCaseID string   `json:"testCaseId"`
	Input      any      `json:"input,omitempty"`
	Output     any      `json:"output,omitempty"`
	Context    []any    `json:"context,omitempty"`
	Reference  any      `json:"reference,omitempty"`
	TraceIDs   []string `json:"traceIds,omitempty"`
}

// EvalRequest is the input of an evaluator action.
type EvalRequest struct {
	Dataset   []EvalDatapoint `json:"dataset"`
	EvalRunID string          `json:"evalRunId"`
	Options   json.RawMessage `json:"options,omitempty"`
	BatchSize int             `json:"batchSize,omitempty"`
}

// Score is one score an evaluator gives a test case.
type Score struct {
	ID      string         `json:"id,omitempty"`
	Score   any            `json:"score,omitempty"`
	Status  string         `json:"status,omitempty"`
	Error   string         `json:"error,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// EvalResponse is an evaluator's verdict on one test case.
type EvalResponse struct {
	SampleIndex int    `json:"sampleIndex"`
	TestCaseID  string `json:"testCaseId"`
	TraceID     string `json:"traceId,omitempty"`
	SpanID      string `json:"spanId,omitempty"`
	// Evaluation is a Score or a []Score.
	Evaluation any `json:"evaluation"`
}

// EvaluatorInfo is an evaluator's listed metadata.
type EvaluatorInfo struct {
	DisplayName string
	Definition  string
	IsBilled    bool
}

// DefineEvaluator registers an evaluator, "/evaluator/<name>". fn scores
// one test case; each test case runs in its own span, and a test case whose
// fn fails gets a score with the error instead of failing the whole run.
func DefineEvaluator(r *Registry, name string, info EvaluatorInfo,
	fn func(ctx context.Context, dp *EvalDatapoint, options json.RawMessage) ([]Score, error)) (*Action, error) {
	md := map[string]any{"type": "evaluator", "evaluator": map[string]any{
		"evaluatorIsBilled":    info.IsBilled,
		"evaluatorDisplayName": info.DisplayName,
		"evaluatorDefinition":  info.Definition,
	}}
	return define[EvalRequest](r, "evaluator", name, &ActionOptions{InputSchema: evalInputSchema}, nil, md,
		func(ctx context.Context, req *Request) (any, error) {
			er, err := decodeInput[EvalRequest](req)
			if err != nil {
				return nil, err
			}
			parent, _ := ctx.Value(spanStateKey{}).(*spanState)
			tp := trace.SpanFromContext(ctx).TracerProvider()
			out := make([]EvalResponse, 0, len(er.Dataset))
			for i := range er.Dataset {
				dp := &er.Dataset[i]
				if dp.TestCaseID == "" {
					dp.TestCaseID = fmt.Sprintf("%d", i)
				}
				resp := EvalResponse{SampleIndex: i, TestCaseID: dp.TestCaseID}
				attrs := []attribute.KeyValue{attribute.String("genkit:metadata:evaluator:evalRunId", er.EvalRunID)}
				err := inSpan(ctx, tp, parent, "Test Case "+dp.TestCaseID, "", "", attrs, func(ctx context.Context, span trace.Span) error {
					resp.TraceID, resp.SpanID = span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
					if b, err := json.Marshal(dp); err == nil {
						span.SetAttributes(attribute.String(AttrInput, string(b)))
					}
					scores, err := fn(ctx, dp, er.Options)
					if err != nil {
						return err
					}
					if len(scores) == 1 {
						resp.Evaluation = scores[0]
					} else {
						resp.Evaluation = scores
					}
					if b, err := json.Marshal(resp); err == nil {
						span.SetAttributes(attribute.String(AttrOutput, string(b)))
					}
					return nil
				})
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					resp.Evaluation = Score{Error: fmt.Sprintf("Evaluation of test case %s failed: %v", dp.TestCaseID, err)}
				}
				out = append(out, resp)
			}
			return out, nil
		})
}

// toMap converts v to a JSON object map, for metadata.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}
