package registry_test

import (
	"encoding/json"
	"testing"
)

func BenchmarkValidateInput(b *testing.B) {
	r := fixtureRegistry(b)
	greet, _ := r.Lookup("/flow/greet")
	inputs := []struct {
		name  string
		input json.RawMessage
	}{
		{"valid", json.RawMessage(`{"name":"Ada","count":3}`)},
		{"invalid", json.RawMessage(`{"name":""}`)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				greet.ValidateInput(in.input)
			}
		})
	}
}
