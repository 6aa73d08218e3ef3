package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinkedPackages checks that the binary links none of the packages
// that cost every runtime start-up time and memory for nothing it does at
// idle: gRPC and generated protobuf code (the OTLP exporter is our own),
// and text/template, whose calls of methods by name make the linker keep
// every exported method of the program (3.6 MB of binary).
func TestLinkedPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for pkg := range strings.FieldsSeq(string(out)) {
		for _, banned := range []string{"google.golang.org/grpc", "google.golang.org/protobuf", "go.opentelemetry.io/proto", "text/template"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("the binary links %s", pkg)
			}
		}
	}
}
