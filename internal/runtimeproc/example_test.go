package runtimeproc_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// A child's output is captured, and Wait gives its exit status.
func ExampleStart() {
	p, err := runtimeproc.Start(exec.Command("sh", "-c", "echo working; echo failing >&2; exit 3"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := p.Wait(ctx)
	fmt.Printf("status %d, err %v\n%s", status, err, p.Output())
	// Output:
	// status 3, err <nil>
	// working
	// failing
}

// Building the genkit-runtime binary of this module, starting it in a
// project root, running an action on it and stopping it.
func ExampleStartRuntime() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	bin, err := runtimeproc.Build(ctx, tmp)
	if err != nil {
		log.Fatal(err)
	}
	// The project root holds a package.json, so the runtime file goes to
	// its .genkit/runtimes.
	root := filepath.Join(tmp, "project")
	if err := os.Mkdir(root, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte("{}\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	p, rf, err := runtimeproc.StartRuntime(ctx, runtimeproc.RuntimeConfig{Binary: bin, Root: root})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Kill()

	req, err := runtimeproc.RunRequest(ctx, rf.Info.ReflectionServerURL, false, `{"key":"/flow/echo","input":1}`)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", body)
	if err := p.Stop(10 * time.Second); err != nil {
		log.Fatal(err)
	}
}
