package reflection

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"

	jsontok "github.com/go-json-experiment/json/jsontext"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// The messages of a run are the hot path of Reflection API v2: a runAction
// request in, a runActionState notification, streamChunk notifications and
// the answer out. jsonrpc2 decodes every message several times over
// (checking it, telling a request from a response, decoding a request,
// copying its params) and encodes every message twice, compacting the
// output of each json.Marshaler. Here a runAction request, and a
// sendInputStreamChunk notification, are decoded by the read loop in one
// validating pass before jsonrpc2 sees them, and a run's frames are built
// by appending bytes around the output and chunks, which are compact JSON
// already.
//
// The fast path takes only requests that are plainly written: the members
// jsonrpc ("2.0"), method, id and params, each once, an id that is a
// string of printable ASCII without escapes or a plain non-negative
// integer, and params that decode without error. Anything else, malformed
// or merely unusual, goes the general way (checkFrame, then jsonrpc2),
// which answers it exactly as it would have without the fast path. The
// frames built here have the bytes jsonrpc2 and wsrpc would have written,
// but for the characters U+2028 and U+2029 in an output or chunk given as
// raw JSON: they are written as they are, as JSON.stringify and v1 write
// them, where encoding/json escaped them.

// Methods the fast path takes, and the raw members it matches.
const (
	methodRunAction  = "runAction"
	methodInputChunk = "sendInputStreamChunk"
	rawVersion       = `"2.0"`
	rawRunAction     = `"` + methodRunAction + `"`
	rawInputChunk    = `"` + methodInputChunk + `"`
)

// Members of a request, and of sendInputStreamChunk params, as bits of a
// set.
const (
	memberJSONRPC = 1 << iota
	memberMethod
	memberID
	memberParams

	inputMemberID    = memberID
	inputMemberChunk = memberParams
)

// The fixed parts of a run's frames, in the member order jsonrpc2 writes:
// its notifications have their members sorted, its responses end with
// the version.
const (
	stateFramePrefix  = `{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":`
	chunkFramePrefix  = `{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":`
	resultFramePrefix = `{"id":`
	frameVersionEnd   = `,"jsonrpc":"2.0"}`
)

// fastRequest is a request the read loop decoded itself.
type fastRequest struct {
	method string
	// id is the request's id, and idJSON the id as its answer echoes it;
	// idJSON is nil for a notification.
	id     jsonrpc2.ID
	idJSON []byte
	params []byte // the params object, a slice of the frame
	// body is the params of a runAction request decoded as the frame was
	// read, when decoded is set: when its method came before its params,
	// as the CLI writes it.
	body    runBody
	decoded bool
}

// parseFastRequest decodes data, a whole frame, as a plainly written
// runAction request, params included, or sendInputStreamChunk message (see
// above). It reports false for any other frame, and for a runAction
// request whose params do not decode.
func parseFastRequest(data []byte) (r fastRequest, ok bool) {
	d := runDecoders.Get().(*jsontok.Decoder)
	defer func() {
		d.Reset(noInput)
		runDecoders.Put(d)
	}()
	d.Reset(bytes.NewBuffer(data), jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true))
	if d.PeekKind() != '{' {
		return r, false
	}
	if _, err := d.ReadToken(); err != nil {
		return r, false
	}
	seen := 0
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return r, false
		}
		var member int
		switch string(name) {
		case `"jsonrpc"`:
			member = memberJSONRPC
		case `"method"`:
			member = memberMethod
		case `"id"`:
			member = memberID
		case `"params"`:
			member = memberParams
		default:
			return r, false
		}
		if seen&member != 0 {
			return r, false
		}
		seen |= member
		k := d.PeekKind()
		if member == memberParams && k == '{' && r.method == methodRunAction {
			// One pass: the params are decoded as they are read.
			if r.body.decodeFrom(d, true) != nil {
				return r, false
			}
			r.decoded = true
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			return r, false
		}
		switch member {
		case memberJSONRPC:
			if string(v) != rawVersion {
				return r, false
			}
		case memberMethod:
			switch string(v) {
			case rawRunAction:
				r.method = methodRunAction
			case rawInputChunk:
				r.method = methodInputChunk
			default:
				return r, false
			}
		case memberID:
			if r.id, ok = plainID(k, v); !ok {
				return r, false
			}
			end := int(d.InputOffset())
			r.idJSON = data[end-len(v) : end]
		case memberParams:
			if k != '{' {
				return r, false
			}
			end := int(d.InputOffset())
			r.params = data[end-len(v) : end]
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return r, false
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return r, false
	}
	if seen&(memberJSONRPC|memberMethod|memberParams) != memberJSONRPC|memberMethod|memberParams ||
		r.method == methodRunAction && r.idJSON == nil {
		return r, false
	}
	if r.method == methodRunAction && !r.decoded {
		if r.body.decodeJSON(r.params, true) != nil {
			return r, false
		}
		r.decoded = true
	}
	return r, true
}

// plainID decodes a raw id of kind k that the fast path takes: a string of
// printable ASCII without escapes, which an answer echoes byte for byte, or
// a non-negative integer that validID accepts.
func plainID(k jsontok.Kind, raw []byte) (jsonrpc2.ID, bool) {
	switch k {
	case '"':
		s, ok := plainString(raw)
		return jsonrpc2.ID{Str: s, IsString: true}, ok
	case '0':
		if !validID(raw) {
			return jsonrpc2.ID{}, false
		}
		n, err := strconv.ParseUint(string(raw), 10, 64)
		return jsonrpc2.ID{Num: n}, err == nil
	}
	return jsonrpc2.ID{}, false
}

// plainString returns the string a raw JSON string holds when it is
// written as JSON.stringify and encoding/json would write it again:
// printable ASCII with no escapes.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(in), true
}

// parseInputParams decodes the params of a plainly written
// sendInputStreamChunk: the members requestId, a plain string, and chunk,
// any value (null when absent), each once and nothing else. It reports
// false for anything else, which the general way answers.
func parseInputParams(params []byte) (rid string, chunk json.RawMessage, ok bool) {
	d := runDecoders.Get().(*jsontok.Decoder)
	defer func() {
		d.Reset(noInput)
		runDecoders.Put(d)
	}()
	d.Reset(bytes.NewBuffer(params), jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true))
	if _, err := d.ReadToken(); err != nil {
		return "", nil, false
	}
	seen := 0
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return "", nil, false
		}
		var member int
		switch string(name) {
		case `"requestId"`:
			member = inputMemberID
		case `"chunk"`:
			member = inputMemberChunk
		default:
			return "", nil, false
		}
		if seen&member != 0 {
			return "", nil, false
		}
		seen |= member
		k := d.PeekKind()
		v, err := d.ReadValue()
		if err != nil {
			return "", nil, false
		}
		if member == inputMemberID {
			if k != '"' {
				return "", nil, false
			}
			if rid, ok = plainString(v); !ok {
				return "", nil, false
			}
			continue
		}
		end := int(d.InputOffset())
		chunk = params[end-len(v) : end]
	}
	if _, err := d.ReadToken(); err != nil || seen&inputMemberID == 0 {
		return "", nil, false
	}
	if chunk == nil {
		chunk = json.RawMessage("null")
	}
	return rid, chunk, true
}

// idJSON returns id as an answer echoes it: the bytes jsonrpc2 writes for
// it, without HTML escapes.
func idJSON(id jsonrpc2.ID) []byte {
	if !id.IsString {
		return strconv.AppendUint(nil, id.Num, 10)
	}
	return stringJSON(id.Str)
}

// requestIDJSON returns the requestId of a run's notifications as JSON:
// the id as a string.
func requestIDJSON(id jsonrpc2.ID, idJSON []byte) []byte {
	if id.IsString {
		return idJSON
	}
	b := make([]byte, 0, len(idJSON)+2)
	b = append(b, '"')
	b = append(b, idJSON...)
	return append(b, '"')
}

// stringJSON encodes s as JSON.stringify does.
func stringJSON(s string) []byte {
	b, err := jsontext.Marshal(s)
	if err != nil {
		// Every string encodes.
		panic(err)
	}
	return b
}

// appendStateFrame appends the runActionState notification of the run
// whose requestId is ridJSON.
func appendStateFrame(dst, ridJSON []byte, traceID string) []byte {
	dst = append(dst, stateFramePrefix...)
	dst = append(dst, ridJSON...)
	dst = append(dst, `,"state":{"traceId":`...)
	dst = strconv.AppendQuote(dst, traceID)
	return append(dst, "}}}"...)
}

// appendChunkFrame appends the streamChunk notification of chunk, compact
// JSON, for the run whose requestId is ridJSON.
func appendChunkFrame(dst, ridJSON, chunk []byte) []byte {
	dst = append(dst, chunkFramePrefix...)
	dst = append(dst, ridJSON...)
	dst = append(dst, `,"chunk":`...)
	dst = append(dst, chunk...)
	return append(dst, "}}"...)
}

// appendResultFrame appends the answer to the run request with the id
// idJSON that succeeded with res: jsonrpc2's response, whose result is the
// final object v1 writes. An output that kept escapes of <, > or & (an
// echo of input written so) has them undone, as jsonrpc2's encoding and
// wsrpc did.
func appendResultFrame(dst, idJSON []byte, res registry.Result) []byte {
	res.Output = jsontext.UnescapeHTML(res.Output)
	if need := len(dst) + len(idJSON) + len(res.Output) + len(res.TraceID) + 80; cap(dst) < need {
		dst = append(make([]byte, 0, need), dst...)
	}
	dst = append(dst, resultFramePrefix...)
	dst = append(dst, idJSON...)
	dst = append(dst, `,"result":`...)
	// A success has no error to encode.
	dst, _ = appendFinal(dst, res, nil)
	return append(dst, frameVersionEnd...)
}
