package jsontext

import (
	"encoding/json"
	"fmt"
)

// Kind names the JSON type of the JSON text raw, judged by its first byte
// after leading white space, the way JavaScript's typeof and zod name it
// except that null is "null": "string", "number", "boolean", "null",
// "object" or "array". It returns "" for empty (or all white space) raw.
// raw is not validated.
func Kind(raw []byte) string {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return kindOfByte(c)
	}
	return ""
}

// kindOfByte names the JSON type of a value that starts with c. A byte that
// starts no other type counts as a number, as does the '0' that tokenizers
// use for the number kind.
func kindOfByte(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// KindOf names the JSON type of v, a value as encoding/json decodes JSON
// into an any (with UseNumber or not), with the names [Kind] uses. Other Go
// values are named by their Go type.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Described is a JSON type name as [Kind] gives it, worded for a message:
// with its indefinite article ("a string", "an object"), "null" as it is,
// and "nothing" for "".
func Described(kind string) string {
	switch kind {
	case "":
		return "nothing"
	case "null":
		return kind
	case "object", "array":
		return "an " + kind
	}
	return "a " + kind
}
