package v2manager_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// TestSkipValidation runs the same exchange against a strict manager and
// one with Options.SkipValidation: the lenient one accepts what only the
// schemas reject (a frame without "jsonrpc", a result whose genkitVersion
// is a number), still decodes runs the same way (chunks byte for byte and
// in order, trace ids, states), and still reports what cannot be decoded
// at all and what breaks the order of a run (a second runActionState, a
// chunk after the result).
func TestSkipValidation(t *testing.T) {
	tests := []struct {
		skip      bool
		wantErr   string   // the run's error; "" for a result
		wantViols []string // substrings of the protocol errors, in order
	}{
		{skip: false, wantErr: "runAction result rejected: result.genkitVersion: expected undefined | string, received number",
			wantViols: []string{`"jsonrpc" must be "2.0"`, `requestId: expected string, received number`, `not JSON`,
				`runActionState #2`, `which is no run in progress`, `unknown method "marker"`}},
		{skip: true,
			wantViols: []string{`streamChunk.params: json: cannot unmarshal number`, `undecodable message not json`,
				`runActionState #2`, `which is no run in progress`, `unknown method "marker"`}},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{false: "strict", true: "skip"}[tt.skip], func(t *testing.T) {
			m, url := newManager(t, &v2manager.Options{SkipValidation: tt.skip})
			f := dialFake(t, url)
			rt := f.register(m)
			ctx := testCtx(t)
			var seen []string
			run, err := rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/x", Stream: true},
				&v2manager.RunCallbacks{OnChunk: func(c json.RawMessage) { seen = append(seen, string(c)) }})
			if err != nil {
				t.Fatal(err)
			}
			id := string(f.read()["id"])
			for _, msg := range []string{
				`{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":` + id + `,"state":{"traceId":"t1"}}}`,
				`{"method":"streamChunk","params":{"requestId":` + id + `,"chunk":{"b":1,"a":"<"}}}`, // no version
				`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":1,"chunk":"numeric"}}`,
				`not json`,
				`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":` + id + `,"chunk":2}}`,
				`{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":` + id + `,"state":{"traceId":"t2"}}}`,
				`{"jsonrpc":"2.0","id":` + id + `,"result":{"result":"ok","genkitVersion":5,"telemetry":{"traceId":"t1"}}}`,
				`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":` + id + `,"chunk":"late"}}`,
			} {
				f.send(msg)
			}
			res, err := run.Wait(ctx)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("Wait = %v, want %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if string(res.Result) != `"ok"` || res.TraceID != "t1" || len(res.States) != 2 || res.States[1].TraceID != "t2" {
					t.Errorf("result = %+v", res)
				}
				var chunks []string
				for _, c := range res.Chunks {
					chunks = append(chunks, string(c))
				}
				if diff := cmp.Diff([]string{`{"b":1,"a":"<"}`, `2`}, chunks); diff != "" {
					t.Errorf("result chunks (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff([]string{`{"b":1,"a":"<"}`, `2`}, seen); diff != "" {
				t.Errorf("OnChunk (-want +got):\n%s", diff)
			}
			if run.TraceID() != "t1" {
				t.Errorf("TraceID = %q", run.TraceID())
			}
			// The late chunk is handled once the read loop gets to it: wait
			// for the answer to a request sent after it.
			f.send(`{"jsonrpc":"2.0","method":"marker","id":"m"}`)
			f.read()
			var got []string
			for _, err := range rt.ProtocolErrors() {
				got = append(got, err.Error())
			}
			if len(got) != len(tt.wantViols) {
				t.Fatalf("protocol errors:\n%s\nwant %d", strings.Join(got, "\n"), len(tt.wantViols))
			}
			for i, want := range tt.wantViols {
				if !strings.Contains(got[i], want) {
					t.Errorf("protocol error %d = %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}
