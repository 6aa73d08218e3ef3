package runtimefile_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// A runtime writes its file once its reflection server listens and removes
// it on shutdown; a tool reads it back with Parse.
func ExampleWrite() {
	root, err := os.MkdirTemp("", "runtimefile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	f, err := runtimefile.Write(root, runtimefile.Info{
		ID:                       "4242-3100",
		PID:                      4242,
		Name:                     "demo",
		ReflectionServerURL:      "http://127.0.0.1:3100",
		Timestamp:                time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.UTC),
		GenkitVersion:            "go/0.1.0",
		ReflectionAPISpecVersion: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Remove()

	rel, err := filepath.Rel(root, f.Path())
	if err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile(f.Path())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rel)
	fmt.Print(string(data))

	info, err := runtimefile.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ID, info.Name, info.Timestamp.Format(time.RFC3339Nano))
	// Output:
	// .genkit/runtimes/4242-3100-1795463574326.json
	// {
	//   "id": "4242-3100",
	//   "pid": 4242,
	//   "name": "demo",
	//   "reflectionServerUrl": "http://127.0.0.1:3100",
	//   "timestamp": "2026-11-23T19:52:54.326Z",
	//   "genkitVersion": "go/0.1.0",
	//   "reflectionApiSpecVersion": 1
	// }
	// 4242-3100 demo 2026-11-23T19:52:54.326Z
}

// Parse accepts what the Genkit CLI accepts, such as the Go SDK's files with
// underscores in the timestamp and no name.
func ExampleParse() {
	info, err := runtimefile.Parse([]byte(`{"id":"8001-3100","pid":8001,` +
		`"reflectionServerUrl":"http://127.0.0.1:3100","timestamp":"2026-11-23T19_44_38Z",` +
		`"genkitVersion":"go/1.4.0","reflectionApiSpecVersion":1}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Name, info.Timestamp)

	_, err = runtimefile.Parse([]byte(`{"id":"a","pid":"8001"}`))
	fmt.Println(err)
	// Output:
	// 8001-3100 2026-11-23 19:44:38 +0000 UTC
	// runtimefile: field "pid" must be a number, got string
}

// List answers which runtimes of a project are up, newest first.
func ExampleList() {
	root, err := os.MkdirTemp("", "runtimefile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("runtime got", r.URL)
	}))
	defer srv.Close()
	for i, url := range []string{srv.URL, "http://127.0.0.1:1"} { // the second is down
		_, err := runtimefile.Write(root, runtimefile.Info{
			ID:                  fmt.Sprint("runtime-", i),
			PID:                 100 + i,
			ReflectionServerURL: url,
			Timestamp:           time.Date(2026, 11, 23, 19, 0, i, 0, time.UTC),
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	infos, err := runtimefile.List(context.Background(), root, srv.Client())
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range infos {
		fmt.Println("up:", info.ID)
	}
	// Output:
	// runtime got /api/__health?id=runtime-0
	// up: runtime-0
}

// A Watcher reports the runtimes already present, then changes, to its
// OnEvent callback until the context given to Run is done.
func ExampleWatcher() {
	root, err := os.MkdirTemp("", "runtimefile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	f, err := runtimefile.Write(root, runtimefile.Info{
		ID: "1-3100", PID: 1, ReflectionServerURL: "http://127.0.0.1:3100",
		Timestamp: time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := runtimefile.NewWatcher(root, &runtimefile.WatcherOptions{
		OnEvent: func(e runtimefile.Event) {
			fmt.Println(e.Kind, filepath.Base(e.Path), e.Info.ID)
			switch e.Kind {
			case runtimefile.Added:
				if err := f.Remove(); err != nil {
					log.Fatal(err)
				}
			case runtimefile.Removed:
				cancel()
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// added 1-3100-1795460400000.json 1-3100
	// removed 1-3100-1795460400000.json 1-3100
}
