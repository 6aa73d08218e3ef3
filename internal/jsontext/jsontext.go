// Package jsontext writes JSON the way JavaScript's JSON.stringify does,
// byte for byte where Genkit clients compare bytes: no escaping of <, > and
// &, and no trailing newline.
package jsontext

import (
	"bytes"
	"encoding/json"
)

// Marshal is json.Marshal without HTML escaping.
func Marshal(v any) ([]byte, error) {
	// json.Marshal differs only where it escaped <, > or & as \u003c,
	// \u003e or \u0026; without any "\u00" its output is the same.
	if b, err := json.Marshal(v); err == nil && !bytes.Contains(b, []byte(`\u00`)) {
		return b, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnescapeHTML undoes encoding/json's escaping of <, > and & (\u003c,
// \u003e, \u0026), as a JSON encoder that escapes them wrote it, so messages carry the bytes
// JSON.stringify would. Backslashes occur only in JSON strings, where each
// starts an escape.
func UnescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			var r byte
			switch string(b[i+4 : i+6]) {
			case "3c":
				r = '<'
			case "3e":
				r = '>'
			case "26":
				r = '&'
			}
			if r != 0 {
				out = append(out, r)
				i += 5
				continue
			}
		}
		out = append(out, c)
		if i+1 < len(b) {
			i++
			out = append(out, b[i])
		}
	}
	return out
}

// IsCompact reports whether the JSON text b has no whitespace outside its
// strings, that is whether json.Compact would leave it as it is. b must be
// valid JSON; for other input the answer means nothing.
func IsCompact(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			return false
		case '"':
			// Skip to the closing quote: the next one not escaped by an
			// odd number of backslashes.
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return true
				}
				i += 1 + j
				n := 0
				for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
					n++
				}
				if n%2 == 0 {
					break
				}
			}
		}
	}
	return true
}

// Compact returns the JSON text b without whitespace outside its strings:
// b itself when it has none, else a compacted copy. b must be valid JSON;
// when it is not, Compact returns an error or b as it is.
func Compact(b []byte) ([]byte, error) {
	if IsCompact(b) {
		return b, nil
	}
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
