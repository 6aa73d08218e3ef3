package dap_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/status"
)

var parseKeyCases = []struct {
	name           string
	key            string
	host, typ, act string
	wantErr        bool
}{
	{name: "provider itself", key: "/dynamic-action-provider/my-dap", host: "my-dap"},
	{name: "provided action", key: "/dynamic-action-provider/my-dap:tool/tool1", host: "my-dap", typ: "tool", act: "tool1"},
	{name: "name with slashes", key: "/dynamic-action-provider/mcp:tool/everything/echo", host: "mcp", typ: "tool", act: "everything/echo"},
	{name: "empty name segment kept", key: "/dynamic-action-provider/h:tool/a//b", host: "h", typ: "tool", act: "a//b"},
	{name: "any type", key: "/dynamic-action-provider/h:resource/r", host: "h", typ: "resource", act: "r"},
	{name: "star pattern parses", key: "/dynamic-action-provider/h:tool/*", host: "h", typ: "tool", act: "*"},
	{name: "prefix pattern parses", key: "/dynamic-action-provider/h:tool/ev*", host: "h", typ: "tool", act: "ev*"},
	{name: "bare prefix", key: "/dynamic-action-provider", wantErr: true},
	{name: "trailing slash only", key: "/dynamic-action-provider/", wantErr: true},
	{name: "no host before colon", key: "/dynamic-action-provider/:tool/x", wantErr: true},
	{name: "colon right after prefix", key: "/dynamic-action-provider:tool/x", wantErr: true},
	{name: "host with slash", key: "/dynamic-action-provider/a/b:tool/x", wantErr: true},
	{name: "host with slash, no action", key: "/dynamic-action-provider/a/b", wantErr: true},
	{name: "no type", key: "/dynamic-action-provider/h:/x", wantErr: true},
	{name: "nothing after colon", key: "/dynamic-action-provider/h:", wantErr: true},
	{name: "type without name", key: "/dynamic-action-provider/h:tool", wantErr: true},
	{name: "type with empty name", key: "/dynamic-action-provider/h:tool/", wantErr: true},
	{name: "second colon", key: "/dynamic-action-provider/h:tool/a:b", wantErr: true},
	{name: "other type", key: "/flow/echo", wantErr: true},
	{name: "longer first word", key: "/dynamic-action-providers/h:tool/x", wantErr: true},
	{name: "empty", key: "", wantErr: true},
}

func TestParseKey(t *testing.T) {
	for _, tc := range parseKeyCases {
		t.Run(tc.name, func(t *testing.T) {
			host, typ, name, err := dap.ParseKey(tc.key)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseKey(%q) = %q, %q, %q, nil; want an error", tc.key, host, typ, name)
				}
				if got := status.CodeOf(err); got != status.InvalidArgument {
					t.Errorf("ParseKey(%q) error code = %v, want INVALID_ARGUMENT (err: %v)", tc.key, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tc.key, err)
			}
			want := []string{tc.host, tc.typ, tc.act}
			if diff := cmp.Diff(want, []string{host, typ, name}); diff != "" {
				t.Errorf("ParseKey(%q) (-want +got):\n%s", tc.key, diff)
			}
			if got := dap.Key(host, typ, name); got != tc.key {
				t.Errorf("Key(%q, %q, %q) = %q, want %q", host, typ, name, got, tc.key)
			}
		})
	}
}

func TestIsKey(t *testing.T) {
	for key, want := range map[string]bool{
		"/dynamic-action-provider":              true,
		"/dynamic-action-provider/x":            true,
		"/dynamic-action-provider:x":            true,
		"/dynamic-action-providers/x":           false,
		"/flow/dynamic-action-provider":         false,
		"dynamic-action-provider/x":             false,
		"/dynamic-action-provider/x:tool/y/z/w": true,
	} {
		if got := dap.IsKey(key); got != want {
			t.Errorf("IsKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, tc := range parseKeyCases {
		f.Add(tc.key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		host, typ, name, err := dap.ParseKey(key)
		if err != nil {
			if status.CodeOf(err) != status.InvalidArgument {
				t.Fatalf("ParseKey(%q) error code = %v, want INVALID_ARGUMENT", key, status.CodeOf(err))
			}
			return
		}
		if !dap.IsKey(key) {
			t.Fatalf("ParseKey(%q) succeeded but IsKey is false", key)
		}
		if got := dap.Key(host, typ, name); got != key {
			t.Fatalf("ParseKey(%q) = %q, %q, %q, which Key joins as %q", key, host, typ, name, got)
		}
	})
}
