package reflection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	jsontok "github.com/go-json-experiment/json/jsontext"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// The run request is decoded in one pass with a validating tokenizer:
// encoding/json would check the whole body, decode it, then scan each raw
// field again while copying it, and the input would be scanned once more
// before the action sees it. Here the body is read once, the raw values of
// input, init and context are copied out as they are validated, and the
// input is handed on as known-valid JSON.

// runDecoders reuses tokenizers between requests.
var runDecoders = sync.Pool{New: func() any { return new(jsontok.Decoder) }}

// noInput is what a pooled tokenizer is left reading, so that it does not
// keep a request body alive.
var noInput = bytes.NewBuffer(nil)

// runBody is a run request as a client sends it: the body of POST
// /api/runAction, or the params of the v2 runAction request, which add the
// stream switches. Both transports decode it with decodeJSON, so member
// names are matched exactly and errors are worded the same.
type runBody struct {
	Key             *string           `json:"key"`
	Input           json.RawMessage   `json:"input"`
	Init            json.RawMessage   `json:"init"`
	Context         json.RawMessage   `json:"context"`
	TelemetryLabels map[string]string `json:"telemetryLabels"`
	// Stream and StreamInput are v2's switches; v1 takes streaming from
	// its query and ignores these members, as the JS runtime does.
	Stream      bool `json:"-"`
	StreamInput bool `json:"-"`
}

// decodeJSON fills r from data, a whole UTF-8 request body or params
// object, in one validating pass. Member names are matched exactly. Unknown
// members are skipped (the CLI sends runtimeId); of a repeated member the
// last counts, as in JavaScript. The stream and streamInput members are
// decoded when switches is set and skipped otherwise. Its errors describe
// the problem for a client and do not carry a status. The input, init and
// context members are slices of data, not copies: data must be the run's
// own (a request body or a JSON-RPC message read for it alone), which
// nothing changes afterwards.
func (r *runBody) decodeJSON(data []byte, switches bool) error {
	d := runDecoders.Get().(*jsontok.Decoder)
	defer func() {
		d.Reset(noInput)
		runDecoders.Put(d)
	}()
	// A bytes.Buffer is read in place, without another copy. Escaped lone
	// surrogates ("\ud800"), which JSON.stringify writes and JSON.parse
	// reads, are accepted; raw bytes that are not UTF-8 are refused, by the
	// check before this one.
	d.Reset(bytes.NewBuffer(data), jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true))
	if err := r.decodeFrom(d, switches); err != nil {
		return err
	}
	return checkEnd(d)
}

// decodeFrom fills r from the next value d reads, as decodeJSON does from
// a whole body. The input, init and context members are slices of what d
// reads, which must be a bytes.Buffer, read in place, over the run's own
// data.
func (r *runBody) decodeFrom(d *jsontok.Decoder, switches bool) error {
	*r = runBody{}
	if k := d.PeekKind(); k != '{' {
		if _, err := d.ReadValue(); err != nil {
			return syntaxError(err)
		}
		if k == 'n' {
			// null is an object with no members, as for encoding/json.
			return nil
		}
		return fmt.Errorf("want a JSON object, not %s", kindName(k))
	}
	if _, err := d.ReadToken(); err != nil {
		return syntaxError(err)
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		field := name.String()
		switch field {
		case "key":
			k := d.PeekKind()
			v, err := d.ReadValue()
			if err != nil {
				return syntaxError(err)
			}
			switch k {
			case '"':
				var key string
				if bytes.IndexByte(v, '\\') < 0 {
					key = string(v[1 : len(v)-1])
				} else if err := json.Unmarshal(v, &key); err != nil {
					return syntaxError(err)
				}
				r.Key = &key
			case 'n':
				r.Key = nil
			default:
				return fmt.Errorf("field %q must be a string, not %s", field, kindName(k))
			}
		case "input", "init", "context":
			v, err := d.ReadValue()
			if err != nil {
				return syntaxError(err)
			}
			// v is a slice of data, which the run keeps (see above).
			// The input is compacted here, once: the run takes it as
			// checked and compact (registry.RunOptions.InputCompact).
			raw := json.RawMessage(v)
			if field == "input" {
				if raw, err = jsontext.Compact(v); err != nil {
					return syntaxError(err)
				}
			}
			switch field {
			case "input":
				r.Input = raw
			case "init":
				r.Init = raw
			default:
				r.Context = raw
			}
		case "telemetryLabels":
			k := d.PeekKind()
			v, err := d.ReadValue()
			if err != nil {
				return syntaxError(err)
			}
			if k == 'n' {
				r.TelemetryLabels = nil
				continue
			}
			// *string, so that a null label, which would decode as "",
			// is refused like any other value that is not a string.
			var labels map[string]*string
			if err := json.Unmarshal(v, &labels); err != nil {
				return fmt.Errorf("field %q must be an object of strings", field)
			}
			r.TelemetryLabels = make(map[string]string, len(labels))
			for name, l := range labels {
				if l == nil {
					return fmt.Errorf("field %q must be an object of strings", field)
				}
				r.TelemetryLabels[name] = *l
			}
		case "stream", "streamInput":
			if !switches {
				if err := d.SkipValue(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			k := d.PeekKind()
			if _, err := d.ReadValue(); err != nil {
				return syntaxError(err)
			}
			var on bool
			switch k {
			case 't':
				on = true
			case 'f', 'n':
			default:
				return fmt.Errorf("field %q must be a boolean, not %s", field, kindName(k))
			}
			if field == "stream" {
				r.Stream = on
			} else {
				r.StreamInput = on
			}
		default:
			if err := d.SkipValue(); err != nil {
				return syntaxError(err)
			}
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return syntaxError(err)
	}
	return nil
}

// checkEnd reports an error unless d is at the end of its input.
func checkEnd(d *jsontok.Decoder) error {
	off := d.InputOffset()
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("unexpected data after the request object (after byte %d)", off)
		}
		return syntaxError(err)
	}
	return nil
}

// syntaxError words a tokenizer error for a client: what is wrong and at
// which byte.
func syntaxError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of JSON input")
	}
	var se *jsontok.SyntacticError
	if errors.As(err, &se) {
		msg := se.Err.Error()
		if errors.Is(se.Err, io.ErrUnexpectedEOF) {
			msg = "unexpected end of JSON input"
		}
		return fmt.Errorf("%s (at byte %d)", msg, se.ByteOffset)
	}
	return err
}

// kindName names a JSON value's kind for a message.
func kindName(k jsontok.Kind) string {
	return jsontext.Described(jsontext.Kind([]byte{byte(k)}))
}
