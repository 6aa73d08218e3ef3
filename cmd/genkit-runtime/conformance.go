package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/conformance"
	"github.com/genkit-runtime/genkit-runtime/conformance/harness"
)

const conformanceUsage = `Usage:
  genkit-runtime conformance --url URL [flags]
  genkit-runtime conformance --cmd COMMAND [--dir DIR] [--v2] [flags]
  genkit-runtime conformance merge [--update FILE] [--out FILE] REPORT.json...

conformance runs the Reflection API conformance suite (the case files under
e2e/conformance) against a Genkit runtime and reports each case as pass,
fail (with a diff) or unsupported. It exits with status 1 when a case fails.

  --url URL      test the v1 runtime already serving at URL
  --cmd COMMAND  start COMMAND with "sh -c" in --dir, find it through its
                 runtime file, test it and stop it (SIGTERM, then SIGKILL)
  --v2           with --cmd: act as the reflection v2 manager, giving the
                 runtime its URL in GENKIT_REFLECTION_V2_SERVER

The suite runs a recording telemetry server and tells the runtime about it
through /api/notify (v1) or the register answer (v2), so trace export is
tested too. Launched commands get GENKIT_ENV=dev and none of the caller's
GENKIT_* or OTEL_* variables.

merge renders the JSON reports of several runs as one Markdown matrix, to
--out (default standard output) or into the matrix section of --update.

Flags:
`

// runConformance runs "genkit-runtime conformance".
func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return runConformanceMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("genkit-runtime conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "base URL of a running v1 runtime, such as http://127.0.0.1:3100")
	command := fs.String("cmd", "", "shell command starting the runtime to test")
	dir := fs.String("dir", "", "folder to run --cmd in (default: a fresh temporary folder holding go.mod and package.json)")
	v2 := fs.Bool("v2", false, "test reflection v2: act as the manager the runtime started by --cmd dials")
	name := fs.String("name", "", "name of the runtime in reports (default: the command or URL)")
	cases := fs.String("cases", "", "folder of case files (default: e2e/conformance, looked for from the working directory up)")
	only := fs.String("run", "", "run only the cases whose id matches this regular expression")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	mdOut := fs.String("markdown", "", "write the report as Markdown to this file")
	startTimeout := fs.Duration("start-timeout", harness.DefaultStartTimeout, "how long the launched runtime gets to become reachable")
	stopTimeout := fs.Duration("stop-timeout", harness.DefaultStopTimeout, "how long the launched runtime gets to exit after SIGTERM before SIGKILL")
	verbose := fs.Bool("v", false, "copy the launched runtime's output to standard error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "genkit-runtime conformance: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if (*url == "") == (*command == "") {
		fmt.Fprintln(stderr, "genkit-runtime conformance: give exactly one of --url and --cmd")
		return 2
	}
	if *v2 && *command == "" {
		fmt.Fprintln(stderr, "genkit-runtime conformance: --v2 needs --cmd")
		return 2
	}
	if *dir != "" && *command == "" {
		fmt.Fprintln(stderr, "genkit-runtime conformance: --dir needs --cmd")
		return 2
	}
	suite, err := loadSuite(*cases, *only)
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance:", err)
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var sess *harness.Session
	if *url != "" {
		sess, err = harness.Attach(ctx, *url, *name, logger)
	} else {
		o := &harness.LaunchOptions{Name: *name, Command: *command, Dir: *dir, Transport: conformance.V1,
			Env: os.Environ(), StartTimeout: *startTimeout, StopTimeout: *stopTimeout, Logger: logger}
		if *v2 {
			o.Transport = conformance.V2
		}
		if *verbose {
			o.Output = stderr
		}
		fmt.Fprintf(stdout, "starting %q (%s)...\n", *command, o.Transport)
		sess, err = harness.Launch(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance:", err)
		return 2
	}
	defer sess.Close()

	rep, err := suite.Run(ctx, sess.Target, &conformance.RunOptions{
		Logger:   logger,
		Progress: func(c conformance.CaseResult) { fmt.Fprintln(stdout, c.Line()) },
	})
	sess.Close()
	if rep == nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance: interrupted:", err)
	}
	printFailures(stdout, rep)
	if err := writeReports(rep, *jsonOut, *mdOut); err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance:", err)
		return 2
	}
	if rep.Failed() || err != nil {
		return 1
	}
	return 0
}

// printFailures prints the setup problems and the diffs of the failed
// cases, then the summary.
func printFailures(w io.Writer, rep *conformance.Report) {
	for _, s := range rep.Setup {
		fmt.Fprintln(w, "setup:", s)
	}
	for _, c := range rep.Cases {
		if c.Outcome != conformance.Fail {
			continue
		}
		fmt.Fprintf(w, "\n--- FAIL %s: %s [%s]\n", c.ID, c.Title, strings.Join(c.Rules, ", "))
		for _, l := range strings.Split(strings.TrimSuffix(c.Diff(), "\n"), "\n") {
			fmt.Fprintln(w, "    "+l)
		}
	}
	if rep.Schema != nil {
		fmt.Fprint(w, "\n"+rep.Schema.Text())
	}
	fmt.Fprintf(w, "\n%s over %s", rep.Target, rep.Transport)
	if rep.GenkitVersion != "" {
		fmt.Fprintf(w, " (%s)", rep.GenkitVersion)
	}
	fmt.Fprintf(w, ": %d passed, %d failed, %d unsupported, of %d cases in %s\n",
		rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Unsupported, len(rep.Cases), rep.Duration)
}

func writeReports(rep *conformance.Report, jsonPath, mdPath string) error {
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{jsonPath, rep.WriteJSON}, {mdPath, rep.WriteMarkdown}} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		if err := out.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// loadSuite loads the cases from dir, or from e2e/conformance found from
// the working directory up, keeping those whose id matches only.
func loadSuite(dir, only string) (*conformance.Suite, error) {
	if dir == "" {
		d, err := findCases()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	suite, err := conformance.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return nil, fmt.Errorf("--run: %w", err)
		}
		suite = suite.Filter(func(c *conformance.Case) bool { return re.MatchString(c.ID) })
		if len(suite.Cases) == 0 {
			return nil, fmt.Errorf("--run %q matches no case", only)
		}
	}
	return suite, nil
}

// casesDir is where the case files live in the repository.
const casesDir = "e2e/conformance"

// findCases looks for e2e/conformance in the working directory and its
// parents.
func findCases() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		c := filepath.Join(d, filepath.FromSlash(casesDir))
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no %s folder found from %s up; give it with --cases", casesDir, wd)
		}
		d = parent
	}
}

// runConformanceMerge runs "genkit-runtime conformance merge".
func runConformanceMerge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genkit-runtime conformance merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	update := fs.String("update", "", "rewrite the matrix section (between "+conformance.MatrixBegin+" and "+conformance.MatrixEnd+") of this Markdown file")
	out := fs.String("out", "", "write the matrix to this file (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "genkit-runtime conformance merge: give the JSON reports to merge")
		return 2
	}
	var reports []*conformance.Report
	for _, p := range fs.Args() {
		r, err := conformance.ReadReport(p)
		if err != nil {
			fmt.Fprintln(stderr, "genkit-runtime conformance merge:", err)
			return 2
		}
		reports = append(reports, r)
	}
	var err error
	switch {
	case *update != "":
		err = conformance.UpdateMatrix(*update, reports)
	case *out != "":
		var f *os.File
		if f, err = os.Create(*out); err == nil {
			err = errors.Join(conformance.WriteMatrix(f, reports), f.Close())
		}
	default:
		err = conformance.WriteMatrix(stdout, reports)
	}
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance merge:", err)
		return 2
	}
	return 0
}
