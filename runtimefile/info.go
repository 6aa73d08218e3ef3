// Package runtimefile reads, writes and watches Genkit runtime discovery
// files, the JSON files under <projectRoot>/.genkit/runtimes through which
// the Genkit CLI finds running Genkit runtimes.
//
// A runtime calls [Write] once its reflection server is listening, and
// [File.Remove] when it shuts down. Tools that look for runtimes use [List]
// for a one-off answer, or a [Watcher] to follow the directory as runtimes
// come and go. [FindRoot] applies the CLI's rule for the project root, so a
// runtime writes its file where the CLI looks.
//
// [Parse] accepts exactly the files the CLI's isValidRuntimeInfo accepts,
// with the few documented exceptions where a Go type cannot hold what
// JavaScript would.
package runtimefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// timestampLayout is how Write and Info.MarshalJSON format timestamps: the
// form of JavaScript's Date.prototype.toISOString, always UTC with
// milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// Info is the content of a runtime file.
//
// Its JSON form has the fields id, pid, name (omitted when empty),
// reflectionServerUrl, timestamp, genkitVersion and reflectionApiSpecVersion.
// The timestamp is written as UTC ISO-8601 with milliseconds, for example
// 2026-11-23T19:52:54.326Z. Info.UnmarshalJSON validates like [Parse].
type Info struct {
	// ID identifies the runtime to the CLI, which sends it back as the id
	// query parameter of /api/__health. It is usually "<pid>-<port>".
	ID string
	// PID is the process id of the runtime.
	PID int
	// Name is the display name in developer tooling. Parse sets it to ID
	// when the file has no name or an empty one, as the CLI does.
	Name string
	// ReflectionServerURL is the base URL of the reflection server, such as
	// http://127.0.0.1:3100, with no trailing /api.
	ReflectionServerURL string
	// Timestamp is when the runtime started. It has millisecond precision.
	Timestamp time.Time
	// GenkitVersion names the runtime library, such as "go/1.4.0".
	GenkitVersion string
	// ReflectionAPISpecVersion is the reflection API spec version the
	// runtime implements; 0 when the file does not say.
	ReflectionAPISpecVersion int
	// ProjectName is the base name of the project root, derived from the
	// file's path by the Watcher and List as the CLI does. It is not part of
	// the file.
	ProjectName string
}

// wireInfo is the JSON layout of a runtime file, in the field order the JS
// runtime writes.
type wireInfo struct {
	ID                       string `json:"id"`
	PID                      int    `json:"pid"`
	Name                     string `json:"name,omitempty"`
	ReflectionServerURL      string `json:"reflectionServerUrl"`
	Timestamp                string `json:"timestamp"`
	GenkitVersion            string `json:"genkitVersion"`
	ReflectionAPISpecVersion int    `json:"reflectionApiSpecVersion"`
}

// MarshalJSON encodes i as a runtime file. It fails if the timestamp's UTC
// year is outside [0, 9999], which the timestamp format cannot express.
func (i Info) MarshalJSON() ([]byte, error) {
	ts := i.Timestamp.UTC()
	if y := ts.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("runtimefile: timestamp year %d outside [0, 9999]", y)
	}
	return json.Marshal(wireInfo{
		ID:                       i.ID,
		PID:                      i.PID,
		Name:                     i.Name,
		ReflectionServerURL:      i.ReflectionServerURL,
		Timestamp:                ts.Format(timestampLayout),
		GenkitVersion:            i.GenkitVersion,
		ReflectionAPISpecVersion: i.ReflectionAPISpecVersion,
	})
}

// UnmarshalJSON decodes and validates a runtime file as [Parse] does.
func (i *Info) UnmarshalJSON(data []byte) error {
	info, err := Parse(data)
	if err != nil {
		return err
	}
	*i = info
	return nil
}

// equal reports whether i and j describe the same runtime file.
func (i Info) equal(j Info) bool {
	return i.ID == j.ID && i.PID == j.PID && i.Name == j.Name &&
		i.ReflectionServerURL == j.ReflectionServerURL &&
		i.Timestamp.Equal(j.Timestamp) && i.GenkitVersion == j.GenkitVersion &&
		i.ReflectionAPISpecVersion == j.ReflectionAPISpecVersion &&
		i.ProjectName == j.ProjectName
}

// FieldError reports a field of a runtime file that is missing or invalid.
type FieldError struct {
	// Field is the JSON name of the field, such as "pid".
	Field string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("runtimefile: field %q %s", e.Field, e.Problem)
}

// Parse decodes a runtime file and validates it as the Genkit CLI's
// isValidRuntimeInfo does:
//
//   - the file is a JSON object;
//   - id is a string (it may be empty);
//   - pid is a number;
//   - reflectionServerUrl is a string;
//   - timestamp is a string that is a date once every '_' is replaced by
//     ':' (the Go SDK writes underscores);
//   - name is a string or absent. An absent or empty name becomes the id.
//
// Keys match exactly, as in JavaScript; unknown keys are ignored.
//
// Parse is stricter than the CLI in ways a Go type forces: pid must be an
// integer, genkitVersion must be a string, absent or null, and
// reflectionApiSpecVersion an integer, absent or null (absent means 0). A
// date is one of the ISO-8601 forms JavaScript's Date.parse accepts: YYYY,
// YYYY-MM or YYYY-MM-DD, optionally followed by 'T', 't' or a space and
// HH:mm, HH:mm:ss or HH:mm:ss.fraction, then optionally Z or an offset
// ±HH:mm or ±HHmm (Z alone after a date). As in JavaScript, a date without a
// time or zone is UTC, a date-time without a zone is local time, fractions
// are cut to milliseconds and a day past the month's end rolls over. The
// looser legacy forms V8 also takes, such as "Mon, 23 Nov 2026 19:52:54 GMT",
// are rejected.
//
// Errors about a field are *FieldError.
func Parse(data []byte) (Info, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return Info{}, fmt.Errorf("runtimefile: runtime file is a JSON %s, not an object", te.Value)
		}
		return Info{}, fmt.Errorf("runtimefile: runtime file is not valid JSON: %w", err)
	}
	if fields == nil {
		return Info{}, errors.New("runtimefile: runtime file is JSON null, not an object")
	}

	var info Info
	var err error
	if info.ID, err = requiredString(fields, "id"); err != nil {
		return Info{}, err
	}
	if info.PID, err = integer(fields, "pid", true); err != nil {
		return Info{}, err
	}
	if info.ReflectionServerURL, err = requiredString(fields, "reflectionServerUrl"); err != nil {
		return Info{}, err
	}
	ts, err := requiredString(fields, "timestamp")
	if err != nil {
		return Info{}, err
	}
	if info.Timestamp, err = parseTimestamp(strings.ReplaceAll(ts, "_", ":")); err != nil {
		return Info{}, &FieldError{Field: "timestamp", Problem: fmt.Sprintf("is not a date: %q", ts)}
	}
	if raw, ok := fields["name"]; ok {
		if kind(raw) != "string" {
			return Info{}, &FieldError{Field: "name", Problem: "must be a string, got " + kind(raw)}
		}
		if err := json.Unmarshal(raw, &info.Name); err != nil {
			return Info{}, &FieldError{Field: "name", Problem: err.Error()}
		}
	}
	if info.Name == "" {
		info.Name = info.ID
	}
	if raw, ok := fields["genkitVersion"]; ok && kind(raw) != "null" {
		if kind(raw) != "string" {
			return Info{}, &FieldError{Field: "genkitVersion", Problem: "must be a string, got " + kind(raw)}
		}
		if err := json.Unmarshal(raw, &info.GenkitVersion); err != nil {
			return Info{}, &FieldError{Field: "genkitVersion", Problem: err.Error()}
		}
	}
	if info.ReflectionAPISpecVersion, err = integer(fields, "reflectionApiSpecVersion", false); err != nil {
		return Info{}, err
	}
	return info, nil
}

// requiredString returns the string value of fields[name].
func requiredString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", &FieldError{Field: name, Problem: "is missing"}
	}
	if kind(raw) != "string" {
		return "", &FieldError{Field: name, Problem: "must be a string, got " + kind(raw)}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &FieldError{Field: name, Problem: err.Error()}
	}
	return s, nil
}

// integer returns the value of fields[name], which must be a JSON number
// holding an integer that fits an int. An optional field may be absent or
// null, giving 0.
func integer(fields map[string]json.RawMessage, name string, required bool) (int, error) {
	raw, ok := fields[name]
	if !ok || (!required && kind(raw) == "null") {
		if required {
			return 0, &FieldError{Field: name, Problem: "is missing"}
		}
		return 0, nil
	}
	if kind(raw) != "number" {
		return 0, &FieldError{Field: name, Problem: "must be a number, got " + kind(raw)}
	}
	// JSON numbers such as 4.2e3 are integers too, so parse as a float.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, &FieldError{Field: name, Problem: fmt.Sprintf("must be an integer of at most 32 bits, got %s", raw)}
	}
	return int(f), nil
}

// kind names the JSON type of a valid JSON value, as JavaScript's typeof
// would see it, except that null is "null".
func kind(raw json.RawMessage) string {
	if k := jsontext.Kind(raw); k != "" {
		return k
	}
	return "nothing"
}

// timestampPattern matches the ISO-8601 forms parseTimestamp accepts.
// Groups: year, month, day, hour, minute, second, fraction, zone. It is
// compiled when first needed: a runtime that reads no runtime file (the
// usual start) does not pay for it.
var timestampPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(
		`^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?` +
			`(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?` +
			`([Zz]|[+-]\d{2}:?\d{2})?$`)
})

// parseTimestamp parses s as JavaScript's Date.parse parses the ISO-8601
// forms documented on Parse. The result is in UTC with millisecond
// precision.
func parseTimestamp(s string) (time.Time, error) {
	m := timestampPattern().FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errors.New("not an ISO-8601 date")
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s) // the pattern admits digits only
		return n
	}
	year, month, day := num(m[1], 0), num(m[2], 1), num(m[3], 1)
	hasTime := m[4] != ""
	hour, minute, sec := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	frac, zone := m[7], m[8]

	ms := 0
	if frac != "" {
		ms = num((frac + "00")[:3], 0)
	}
	switch {
	case month < 1 || month > 12, day < 1 || day > 31:
		return time.Time{}, errors.New("date out of range")
	case minute > 59, sec > 59:
		return time.Time{}, errors.New("time out of range")
	case hour > 24, hour == 24 && (minute != 0 || sec != 0 || strings.Trim(frac, "0") != ""):
		return time.Time{}, errors.New("time out of range")
	}

	loc := time.UTC
	switch {
	case zone == "Z" || zone == "z":
	case zone != "":
		if !hasTime {
			return time.Time{}, errors.New("offset without a time")
		}
		digits := strings.ReplaceAll(zone[1:], ":", "")
		oh, om := num(digits[:2], 0), num(digits[2:], 0)
		if oh > 23 || om > 59 {
			return time.Time{}, errors.New("offset out of range")
		}
		offset := oh*3600 + om*60
		if zone[0] == '-' {
			offset = -offset
		}
		loc = time.FixedZone("", offset)
	case hasTime:
		loc = time.Local
	}
	// time.Date normalises a day past the month's end and hour 24 into the
	// following days, as JavaScript does.
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), loc).UTC(), nil
}
