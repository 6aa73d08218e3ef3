package runtimefile

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// jsFile is a runtime file as the JS runtime writes it.
const jsFile = `{"id":"22192-3102","pid":22192,"name":"probe-app","reflectionServerUrl":"http://localhost:3102",` +
	`"timestamp":"2026-11-23T19:52:54.326Z","genkitVersion":"nodejs/1.42.0","reflectionApiSpecVersion":1}`

// goFile is a runtime file as the Go SDK writes it.
const goFile = `{"id":"8001-3100","pid":8001,"reflectionServerUrl":"http://127.0.0.1:3100",` +
	`"timestamp":"2026-11-23T19_44_38Z","genkitVersion":"go/1.4.0","reflectionApiSpecVersion":1}`

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want Info
	}{
		{
			name: "js",
			data: jsFile,
			want: Info{
				ID: "22192-3102", PID: 22192, Name: "probe-app", ReflectionServerURL: "http://localhost:3102",
				Timestamp:     time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.UTC),
				GenkitVersion: "nodejs/1.42.0", ReflectionAPISpecVersion: 1,
			},
		},
		{
			name: "go underscores and no name",
			data: goFile,
			want: Info{
				ID: "8001-3100", PID: 8001, Name: "8001-3100", ReflectionServerURL: "http://127.0.0.1:3100",
				Timestamp:     time.Date(2026, 11, 23, 19, 44, 38, 0, time.UTC),
				GenkitVersion: "go/1.4.0", ReflectionAPISpecVersion: 1,
			},
		},
		{
			name: "python local time, no spec version",
			data: `{"id":"py","pid":7,"reflectionServerUrl":"http://127.0.0.1:3100","timestamp":"2026-11-23T19:52:54.326123","genkitVersion":"py/0.3.2"}`,
			want: Info{
				ID: "py", PID: 7, Name: "py", ReflectionServerURL: "http://127.0.0.1:3100",
				Timestamp:     time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.Local),
				GenkitVersion: "py/0.3.2",
			},
		},
		{
			name: "minimal with empty id and empty name",
			data: `{"id":"","pid":1,"reflectionServerUrl":"","timestamp":"2026","name":""}`,
			want: Info{PID: 1, Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		{
			name: "nulls for optional fields, unknown keys, exponent pid",
			data: `{"id":"a","pid":4.2e3,"reflectionServerUrl":"u","timestamp":"2026-11-23","genkitVersion":null,"reflectionApiSpecVersion":null,"extra":[1,{}]}`,
			want: Info{ID: "a", PID: 4200, Name: "a", ReflectionServerURL: "u", Timestamp: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		},
		{
			name: "keys are case sensitive",
			data: `{"id":"a","ID":"b","pid":1,"PID":2,"reflectionServerUrl":"u","timestamp":"2026-11-23T10:00+01:00","Name":"x"}`,
			want: Info{ID: "a", PID: 1, Name: "a", ReflectionServerURL: "u", Timestamp: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		},
		{
			name: "negative pid and spec version above 1",
			data: `{"id":"a","pid":-5,"reflectionServerUrl":"u","timestamp":"2026-11-23T10:00:00Z","reflectionApiSpecVersion":2}`,
			want: Info{ID: "a", PID: -5, Name: "a", ReflectionServerURL: "u", Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), ReflectionAPISpecVersion: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tt.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
			var viaJSON Info
			if err := json.Unmarshal([]byte(tt.data), &viaJSON); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, viaJSON); diff != "" {
				t.Errorf("json.Unmarshal mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// rejectCases are files Parse rejects, with the field blamed ("" when the
// file as a whole is wrong).
var rejectCases = []struct {
	name  string
	data  string
	field string
}{
	{"empty", ``, ""},
	{"truncated", `{"id":"a","pid":1,`, ""},
	{"array", `[]`, ""},
	{"string", `"x"`, ""},
	{"null", `null`, ""},
	{"id missing", `{"pid":1,"reflectionServerUrl":"u","timestamp":"2026"}`, "id"},
	{"id number", `{"id":1,"pid":1,"reflectionServerUrl":"u","timestamp":"2026"}`, "id"},
	{"id null", `{"id":null,"pid":1,"reflectionServerUrl":"u","timestamp":"2026"}`, "id"},
	{"pid missing", `{"id":"a","reflectionServerUrl":"u","timestamp":"2026"}`, "pid"},
	{"pid string", `{"id":"a","pid":"1","reflectionServerUrl":"u","timestamp":"2026"}`, "pid"},
	{"pid fraction", `{"id":"a","pid":1.5,"reflectionServerUrl":"u","timestamp":"2026"}`, "pid"},
	{"pid huge", `{"id":"a","pid":1e300,"reflectionServerUrl":"u","timestamp":"2026"}`, "pid"},
	{"url missing", `{"id":"a","pid":1,"timestamp":"2026"}`, "reflectionServerUrl"},
	{"url object", `{"id":"a","pid":1,"reflectionServerUrl":{},"timestamp":"2026"}`, "reflectionServerUrl"},
	{"timestamp missing", `{"id":"a","pid":1,"reflectionServerUrl":"u"}`, "timestamp"},
	{"timestamp number", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":1700000000000}`, "timestamp"},
	{"timestamp garbage", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"hello"}`, "timestamp"},
	{"timestamp month 13", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026-13-01"}`, "timestamp"},
	{"name null", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026","name":null}`, "name"},
	{"name number", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026","name":3}`, "name"},
	{"genkitVersion number", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026","genkitVersion":1}`, "genkitVersion"},
	{"spec version string", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026","reflectionApiSpecVersion":"1"}`, "reflectionApiSpecVersion"},
	{"spec version fraction", `{"id":"a","pid":1,"reflectionServerUrl":"u","timestamp":"2026","reflectionApiSpecVersion":1.5}`, "reflectionApiSpecVersion"},
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range rejectCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			field := ""
			if fe, ok := errors.AsType[*FieldError](err); ok {
				field = fe.Field
			}
			if field != tt.field {
				t.Errorf("Parse error %q blames field %q, want %q", err, field, tt.field)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ms int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ms*int(time.Millisecond), time.UTC)
	}
	local := func(y int, mo time.Month, d, h, mi, s, ms int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ms*int(time.Millisecond), time.Local).UTC()
	}
	// Expectations agree with V8's Date.parse (node 22).
	tests := []struct {
		in   string
		want time.Time // zero: rejected
	}{
		{"2026-11-23T19:52:54.326Z", utc(2026, 11, 23, 19, 52, 54, 326)},
		{"2026-11-23t19:52:54.326z", utc(2026, 11, 23, 19, 52, 54, 326)},
		{"2026-11-23 19:52:54Z", utc(2026, 11, 23, 19, 52, 54, 0)},
		{"2026-11-23T19:52:54.1234567Z", utc(2026, 11, 23, 19, 52, 54, 123)},
		{"2026-11-23T19:52:54.1Z", utc(2026, 11, 23, 19, 52, 54, 100)},
		{"2026-11-23T19:52Z", utc(2026, 11, 23, 19, 52, 0, 0)},
		{"2026-11-23T19:52:54+01:00", utc(2026, 11, 23, 18, 52, 54, 0)},
		{"2026-11-23T19:52:54+0100", utc(2026, 11, 23, 18, 52, 54, 0)},
		{"2026-11-23T19:52:54.326-23:59", utc(2026, 11, 24, 19, 51, 54, 326)},
		{"2026-11-23T19:52:54", local(2026, 11, 23, 19, 52, 54, 0)},
		{"2026-11-23 19:52", local(2026, 11, 23, 19, 52, 0, 0)},
		{"2026-11-23T24:00", local(2026, 11, 24, 0, 0, 0, 0)},
		{"2026-11-23T24:00:00.000Z", utc(2026, 11, 24, 0, 0, 0, 0)},
		{"2026-11-23", utc(2026, 11, 23, 0, 0, 0, 0)},
		{"2026-11-23Z", utc(2026, 11, 23, 0, 0, 0, 0)},
		{"2026-11", utc(2026, 11, 1, 0, 0, 0, 0)},
		{"2026", utc(2026, 1, 1, 0, 0, 0, 0)},
		{"2026-02-30", utc(2026, 3, 2, 0, 0, 0, 0)},
		{"0000-01-01", utc(0, 1, 1, 0, 0, 0, 0)},
		{"2026-13-01", time.Time{}},
		{"2026-00-10", time.Time{}},
		{"2026-11-00", time.Time{}},
		{"2026-11-23T24:01", time.Time{}},
		{"2026-11-23T24:00:00.5", time.Time{}},
		{"2026-11-23T25:00", time.Time{}},
		{"2026-11-23T23:60", time.Time{}},
		{"2026-11-23T23:59:60", time.Time{}},
		{"2026-11-23T19", time.Time{}},
		{"2026-11-23T19:52:54.", time.Time{}},
		{"2026-11-23T19:52:54+01", time.Time{}},
		{"2026-11-23T19:52:54+24:00", time.Time{}},
		{"2026-11-23T19:52:54+01:60", time.Time{}},
		{"2026-11-23+01:00", time.Time{}},
		{"2026-11-23T19:52:54 Z", time.Time{}},
		{"2026-11-23T19:52:54,326Z", time.Time{}},
		{"2026-11-23T19_52_54Z", time.Time{}},
		{"20261123", time.Time{}},
		{"hello", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseTimestamp(tt.in)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("parseTimestamp(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTimestamp(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("parseTimestamp(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	info := Info{
		ID: "1-2", PID: 1, ReflectionServerURL: "http://127.0.0.1:3100",
		Timestamp:     time.Date(2026, 11, 23, 20, 52, 54, 0, time.FixedZone("", 3600)),
		GenkitVersion: "go/x", ReflectionAPISpecVersion: 1, ProjectName: "not written",
	}
	got, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"1-2","pid":1,"reflectionServerUrl":"http://127.0.0.1:3100","timestamp":"2026-11-23T19:52:54.000Z","genkitVersion":"go/x","reflectionApiSpecVersion":1}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("json.Marshal mismatch (-want +got):\n%s", diff)
	}

	info.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(info); err == nil {
		t.Error("json.Marshal of year 10000 succeeded, want an error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(jsFile))
	f.Add([]byte(goFile))
	for _, tt := range rejectCases {
		f.Add([]byte(tt.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(data)
		if err != nil {
			return
		}
		if info.Name == "" && info.ID != "" {
			t.Errorf("Parse gave an empty Name for ID %q", info.ID)
		}
		out, err := json.Marshal(info)
		if err != nil {
			if y := info.Timestamp.UTC().Year(); y >= 0 && y <= 9999 {
				t.Fatalf("Marshal of parsed %+v: %v", info, err)
			}
			return
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of %s: %v", out, err)
		}
		if diff := cmp.Diff(info, again); diff != "" {
			t.Errorf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}
