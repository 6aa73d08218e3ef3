package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/conformance"
	"github.com/genkit-runtime/genkit-runtime/conformance/harness"
)

const conformanceUsage = `Usage:
  genkit-runtime conformance --url URL [flags]
  genkit-runtime conformance --cmd COMMAND [--dir DIR] [--v2] [flags]
  genkit-runtime conformance list [--cases DIR] [--run REGEXP]
  genkit-runtime conformance coverage [--cases DIR] [--update FILE]
  genkit-runtime conformance merge [--update FILE] [--out FILE] [--html FILE] [--junit FILE] REPORT.json...

conformance runs the Reflection API conformance suite against a Genkit
runtime and reports each case as pass, fail (with a diff) or unsupported.
The cases are built into the binary; --cases runs those of a folder
instead. Reports name the suite version, a digest of the case set, so two
reports can be compared.

  --url URL      test the v1 runtime already serving at URL
  --cmd COMMAND  start COMMAND with "sh -c" in --dir, find it through its
                 runtime file, test it and stop it (SIGTERM, then SIGKILL);
                 cases that control the launch start it again on their own
  --v2           with --cmd: act as the reflection v2 manager, giving the
                 runtime its URL in GENKIT_REFLECTION_V2_SERVER

The suite runs a recording telemetry server and tells the runtime about it
through /api/notify (v1) or the register answer (v2), so trace export is
tested too. Launched commands get GENKIT_ENV=dev and none of the caller's
GENKIT_* or OTEL_* variables.

Reports: --json, --markdown, --junit (JUnit XML: a test case per case, each
failure with its diff) and --html (one self-contained page). With
--expected-failures FILE (case IDs, one a line, '#' comments), the run
passes when exactly those cases fail: a new failure, and a listed case that
passes, is unsupported or did not run, each fail the run and are named.

list prints every case with its transports and the rules it cites.
coverage prints which cases cover each rule of protocol.md §8, or writes
that map into the coverage section of --update. merge renders the JSON
reports of several runs as one matrix: Markdown to --out (default standard
output) or into the matrix section of --update, and HTML or JUnit XML.

Exit status:
  0  every case passed (with --expected-failures: exactly those failed)
  1  a case failed (with --expected-failures: a new failure or a stale entry)
  2  the suite could not run: bad flags, unreadable cases or baseline, a
     runtime that could not be started or reached, an interrupted run, or
     a report that could not be written

Flags:
`

// Exit statuses of "genkit-runtime conformance".
const (
	exitPass    = 0
	exitFail    = 1
	exitCantRun = 2
)

// runConformance runs "genkit-runtime conformance".
func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "merge":
			return runConformanceMerge(args[1:], stdout, stderr)
		case "list":
			return runConformanceList(args[1:], stdout, stderr)
		case "coverage":
			return runConformanceCoverage(args[1:], stdout, stderr)
		}
	}
	fs := newConformanceFlags("genkit-runtime conformance", stderr)
	url := fs.String("url", "", "base URL of a running v1 runtime, such as http://127.0.0.1:3100")
	command := fs.String("cmd", "", "shell command starting the runtime to test")
	dir := fs.String("dir", "", "folder to run --cmd in (default: a fresh temporary folder holding go.mod and package.json)")
	v2 := fs.Bool("v2", false, "test reflection v2: act as the manager the runtime started by --cmd dials")
	name := fs.String("name", "", "name of the runtime in reports (default: the command or URL)")
	cases := fs.String("cases", "", "folder of case files to run instead of the built-in ones")
	only := fs.String("run", "", "run only the cases whose id matches this regular expression")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	mdOut := fs.String("markdown", "", "write the report as Markdown to this file")
	junitOut := fs.String("junit", "", "write the report as JUnit XML to this file")
	htmlOut := fs.String("html", "", "write the report as a self-contained HTML page to this file")
	expected := fs.String("expected-failures", "", "file of the case IDs expected to fail: the run passes when exactly those fail")
	startTimeout := fs.Duration("start-timeout", harness.DefaultStartTimeout, "how long the launched runtime gets to become reachable")
	stopTimeout := fs.Duration("stop-timeout", harness.DefaultStopTimeout, "how long the launched runtime gets to exit after SIGTERM before SIGKILL")
	verbose := fs.Bool("v", false, "copy the launched runtime's output to standard error")
	if code, ok := parseFlags(fs, args, false, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "genkit-runtime conformance:", msg)
		return exitCantRun
	}
	switch {
	case (*url == "") == (*command == ""):
		return usage("give exactly one of --url and --cmd")
	case *v2 && *command == "":
		return usage("--v2 needs --cmd")
	case *dir != "" && *command == "":
		return usage("--dir needs --cmd")
	}
	suite, err := loadSuite(*cases, *only)
	if err != nil {
		return usage(err.Error())
	}
	var baseline []string
	if *expected != "" {
		if baseline, err = conformance.ReadBaselineFile(*expected); err != nil {
			return usage(err.Error())
		}
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
		return usage(err.Error())
	}
	defer sess.Close()

	fmt.Fprintf(stdout, "suite %s: %d cases\n", suite.Version(), len(suite.Cases))
	rep, runErr := suite.Run(ctx, sess.Target, &conformance.RunOptions{
		Logger:   logger,
		Progress: func(c conformance.CaseResult) { fmt.Fprintln(stdout, c.Line()) },
	})
	sess.Close()
	if rep == nil {
		return usage(runErr.Error())
	}
	printFailures(stdout, rep)
	code := exitPass
	if rep.Failed() {
		code = exitFail
	}
	if baseline != nil {
		cmp := rep.CompareBaseline(baseline)
		cmp.WriteText(stdout)
		code = exitPass
		if !cmp.OK() {
			code = exitFail
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance: interrupted:", runErr)
		code = exitCantRun
	}
	reps := []*conformance.Report{rep}
	if err := writeReports(reps, map[string]string{"json": *jsonOut, "markdown": *mdOut, "junit": *junitOut, "html": *htmlOut}); err != nil {
		return usage(err.Error())
	}
	return code
}

// newConformanceFlags returns a flag set printing the conformance usage.
func newConformanceFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, which may hold operands after the flags only
// when operands is set; when it returns false the command ends with the
// status it returns (0 after -help).
func parseFlags(fs *flag.FlagSet, args []string, operands bool, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass, false
		}
		return exitCantRun, false
	}
	if fs.NArg() > 0 && !operands {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitCantRun, false
	}
	return 0, true
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
	fmt.Fprintf(w, ", suite %s: %d passed, %d failed, %d unsupported, of %d cases in %s\n",
		rep.SuiteVersion, rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Unsupported, len(rep.Cases), rep.Duration)
}

// reportWriters are the report formats, by name: each writes one or more
// reports.
var reportWriters = map[string]func(io.Writer, []*conformance.Report) error{
	"json":     func(w io.Writer, r []*conformance.Report) error { return r[0].WriteJSON(w) },
	"markdown": func(w io.Writer, r []*conformance.Report) error { return r[0].WriteMarkdown(w) },
	"matrix":   conformance.WriteMatrix,
	"junit":    conformance.WriteJUnit,
	"html":     conformance.WriteHTML,
}

// writeReports writes reps to each file named in paths (format → path;
// empty paths are skipped).
func writeReports(reps []*conformance.Report, paths map[string]string) error {
	for _, format := range slices.Sorted(maps.Keys(paths)) {
		path := paths[format]
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := errors.Join(reportWriters[format](f, reps), f.Close()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// loadSuite loads the cases from dir, or the built-in ones when dir is
// empty, keeping those whose id matches only.
func loadSuite(dir, only string) (*conformance.Suite, error) {
	var suite *conformance.Suite
	var err error
	if dir == "" {
		suite, err = conformance.Embedded()
	} else {
		suite, err = conformance.LoadDir(dir)
	}
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

// runConformanceList runs "genkit-runtime conformance list".
func runConformanceList(args []string, stdout, stderr io.Writer) int {
	fs := newConformanceFlags("genkit-runtime conformance list", stderr)
	cases := fs.String("cases", "", "folder of case files to list instead of the built-in ones")
	only := fs.String("run", "", "list only the cases whose id matches this regular expression")
	if code, ok := parseFlags(fs, args, false, stderr); !ok {
		return code
	}
	suite, err := loadSuite(*cases, *only)
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance list:", err)
		return exitCantRun
	}
	if err := suite.WriteList(stdout); err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance list:", err)
		return exitCantRun
	}
	return exitPass
}

// runConformanceCoverage runs "genkit-runtime conformance coverage".
func runConformanceCoverage(args []string, stdout, stderr io.Writer) int {
	fs := newConformanceFlags("genkit-runtime conformance coverage", stderr)
	cases := fs.String("cases", "", "folder of case files to map instead of the built-in ones")
	update := fs.String("update", "", "rewrite the coverage section (between "+conformance.CoverageBegin+" and "+conformance.CoverageEnd+") of this Markdown file")
	if code, ok := parseFlags(fs, args, false, stderr); !ok {
		return code
	}
	suite, err := loadSuite(*cases, "")
	if err == nil {
		cov := conformance.CoverageOf(suite)
		if *update != "" {
			err = conformance.UpdateCoverage(*update, cov)
		} else {
			err = cov.WriteMarkdown(stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "genkit-runtime conformance coverage:", err)
		return exitCantRun
	}
	return exitPass
}

// runConformanceMerge runs "genkit-runtime conformance merge".
func runConformanceMerge(args []string, stdout, stderr io.Writer) int {
	fs := newConformanceFlags("genkit-runtime conformance merge", stderr)
	update := fs.String("update", "", "rewrite the matrix section (between "+conformance.MatrixBegin+" and "+conformance.MatrixEnd+") of this Markdown file")
	out := fs.String("out", "", "write the Markdown matrix to this file (default: standard output, unless another output is given)")
	htmlOut := fs.String("html", "", "write the matrix as a self-contained HTML page to this file")
	junitOut := fs.String("junit", "", "write the reports as JUnit XML to this file")
	if code, ok := parseFlags(fs, args, true, stderr); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "genkit-runtime conformance merge:", err)
		return exitCantRun
	}
	if fs.NArg() == 0 {
		return fail(errors.New("give the JSON reports to merge"))
	}
	var reports []*conformance.Report
	for _, p := range fs.Args() {
		r, err := conformance.ReadReport(p)
		if err != nil {
			return fail(err)
		}
		reports = append(reports, r)
	}
	if *update != "" {
		if err := conformance.UpdateMatrix(*update, reports); err != nil {
			return fail(err)
		}
	}
	if err := writeReports(reports, map[string]string{"matrix": *out, "html": *htmlOut, "junit": *junitOut}); err != nil {
		return fail(err)
	}
	if *update == "" && *out == "" && *htmlOut == "" && *junitOut == "" {
		if err := conformance.WriteMatrix(stdout, reports); err != nil {
			return fail(err)
		}
	}
	return exitPass
}
