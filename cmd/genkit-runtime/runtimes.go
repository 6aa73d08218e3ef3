package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// runRuntimes lists the live runtimes of a project: "genkit-runtime
// runtimes [--root DIR]".
func runRuntimes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genkit-runtime runtimes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "project root (default: found from the working directory like the Genkit CLI does)")
	asJSON := fs.Bool("json", false, "print the runtime files' contents as JSON lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := *root
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(stderr, "genkit-runtime runtimes:", err)
			return 1
		}
		if dir, err = runtimefile.FindRoot(wd); err != nil {
			fmt.Fprintln(stderr, "genkit-runtime runtimes:", err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	infos, err := runtimefile.List(ctx, dir, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime runtimes:", err)
		return 1
	}
	if *asJSON {
		for _, in := range infos {
			b, err := in.MarshalJSON()
			if err != nil {
				continue
			}
			fmt.Fprintln(stdout, string(b))
		}
		return 0
	}
	if len(infos) == 0 {
		fmt.Fprintf(stdout, "no live runtimes in %s\n", runtimefile.Dir(dir))
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tURL\tVERSION\tSTARTED")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.ID, in.Name, in.ReflectionServerURL, in.GenkitVersion, in.Timestamp.Local().Format(time.DateTime))
	}
	tw.Flush()
	return 0
}
