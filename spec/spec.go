// Package spec holds the machine-readable description of the Genkit
// Reflection API: the JSON Schemas of its messages, generated from the
// zod schemas of the pinned Genkit CLI by generate.js (schemas/*.json),
// the rules the client relies on beyond them (schemas/rules/*.json), the
// OpenAPI 3.1 document of v1 (openapi.yaml) and the OpenRPC document of v2
// (reflection-v2.openrpc.json). See README.md in this folder.
//
// Load compiles the schemas so Go code can validate messages against them.
package spec

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Files holds the schemas and the two API documents, under their paths in
// this folder: schemas/Status.json, schemas/rules/ErrorStatus.json,
// openapi.yaml, reflection-v2.openrpc.json.
//
//go:embed schemas openapi.yaml reflection-v2.openrpc.json
var Files embed.FS

// Schemas is the compiled set of schemas. It is safe for concurrent use.
type Schemas struct {
	byName map[string]*jsonschema.Resolved
	raw    map[string]*jsonschema.Schema
}

// Load compiles every schema of Files. A schema is named by its path
// under schemas/ without the .json suffix: "Status", "rules/ErrorStatus".
func Load() (*Schemas, error) {
	s := &Schemas{byName: map[string]*jsonschema.Resolved{}, raw: map[string]*jsonschema.Schema{}}
	err := fs.WalkDir(Files, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		data, err := Files.ReadFile(p)
		if err != nil {
			return err
		}
		var sch jsonschema.Schema
		if err := json.Unmarshal(data, &sch); err != nil {
			return fmt.Errorf("spec: %s: %w", p, err)
		}
		r, err := sch.Resolve(nil)
		if err != nil {
			return fmt.Errorf("spec: %s: %w", p, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "schemas/"), ".json")
		s.byName[name] = r
		s.raw[name] = &sch
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Names returns the names of the schemas, sorted.
func (s *Schemas) Names() []string {
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Schema returns the schema of that name, as it is in its file.
func (s *Schemas) Schema(name string) (*jsonschema.Schema, bool) {
	sch, ok := s.raw[name]
	return sch, ok
}

// Path returns the path of the named schema's file in the repository,
// such as spec/schemas/rules/ErrorStatus.json.
func Path(name string) string {
	return "spec/schemas/" + name + ".json"
}

// Validate checks a JSON value against the named schema. The value must
// be as encoding/json decodes into an any: maps, slices, float64, string,
// bool and nil. The error names the schema's file and the failing place.
func (s *Schemas) Validate(name string, value any) error {
	r, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("spec: no schema %q", name)
	}
	if err := r.Validate(value); err != nil {
		return fmt.Errorf("%s: %w", Path(name), err)
	}
	return nil
}

// ValidateJSON decodes data and validates it as Validate does.
func (s *Schemas) ValidateJSON(name string, data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%s: not JSON: %w", Path(name), err)
	}
	return s.Validate(name, v)
}
