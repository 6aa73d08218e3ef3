package conformance_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// findChromium returns Debian's chromium, or skips the test when it is
// absent outside CI; in CI (CI=true), where test.sh installs it, its
// absence fails the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; in CI, test.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed, so the HTML report is not checked in a browser; ./test.sh installs it with apt-get (CI=true makes its absence a failure)")
	return ""
}

// dumpDOM loads the file in headless chromium and returns the DOM it
// rendered.
func dumpDOM(t *testing.T, chromium, path string) *html.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--dump-dom", "file://"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), class)
}

// elements returns the elements of the tree for which keep holds.
func elements(n *html.Node, keep func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && keep(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// TestHTMLReportInBrowser writes the HTML page of two reports, loads it in
// headless chromium and reads the rendered DOM: a row per case, an
// outcome cell per report, and each column's failure count.
func TestHTMLReportInBrowser(t *testing.T) {
	chromium := findChromium(t)
	v1 := sampleReport()
	v2 := sampleReport()
	v2.Transport = conformance.V2
	v2.Cases = append(v2.Cases[:2:2], conformance.CaseResult{ID: "v2/register", Title: "registers", Rules: []string{"protocol.md §5.2"},
		Outcome: conformance.Fail, Steps: []conformance.StepResult{{Step: "step 1 (register)", Error: "no <register> & no luck"}}})
	v2.Summary = conformance.Summary{Pass: 1, Fail: 2}
	reports := []*conformance.Report{v1, v2}

	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := conformance.WriteHTML(f, reports); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	doc := dumpDOM(t, chromium, path)

	rows := elements(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "case") })
	wantRows := []string{"run/echo", "run/fail-codes", "v1/actions-dap-expanded", "v2/register"}
	var gotRows []string
	for _, r := range rows {
		id, _ := attr(r, "data-case")
		gotRows = append(gotRows, id)
		cells := elements(r, func(n *html.Node) bool { _, ok := attr(n, "data-outcome"); return ok })
		if len(cells) != len(reports) {
			t.Errorf("row %s: %d outcome cells, want %d", id, len(cells), len(reports))
		}
	}
	if strings.Join(gotRows, " ") != strings.Join(wantRows, " ") {
		t.Errorf("rows %q, want %q", gotRows, wantRows)
	}

	counts := elements(doc, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "count") })
	if len(counts) != len(reports) {
		t.Fatalf("%d failure counts, want one per column (%d)", len(counts), len(reports))
	}
	for i, c := range counts {
		col, _ := attr(c, "data-column")
		n, _ := attr(c, "data-failures")
		if col != reports[i].Column() || n != strconv.Itoa(reports[i].Summary.Fail) {
			t.Errorf("count %d: column %q with %s failures, want %q with %d", i, col, n, reports[i].Column(), reports[i].Summary.Fail)
		}
		// The count the cells show agrees with the count the column states.
		fails := 0
		for _, r := range rows {
			cells := elements(r, func(n *html.Node) bool { _, ok := attr(n, "data-outcome"); return ok })
			if v, _ := attr(cells[i], "data-outcome"); v == "fail" {
				fails++
			}
		}
		if strconv.Itoa(fails) != n {
			t.Errorf("column %q: %d failed cells, but the count says %s", col, fails, n)
		}
	}

	diffs := elements(doc, func(n *html.Node) bool { return n.Data == "section" && hasClass(n, "failure") })
	if len(diffs) != 3 {
		t.Errorf("%d failure sections, want 3 (one per failed cell)", len(diffs))
	}
	var text strings.Builder
	for _, d := range diffs {
		for _, p := range elements(d, func(n *html.Node) bool { return n.Data == "pre" }) {
			for c := p.FirstChild; c != nil; c = c.NextSibling {
				text.WriteString(c.Data)
			}
		}
	}
	for _, want := range []string{"+ got:  499", "no <register> & no luck"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the diffs do not show %q:\n%s", want, text.String())
		}
	}
	rules := elements(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "rule") })
	if len(rules) != 4 {
		t.Errorf("%d rules listed, want the 4 the cases cite", len(rules))
	}
}

// TestHTMLReportEscapes writes the page of a report whose every string
// holds markup, quotes and other characters HTML gives a meaning to, and
// parses it: the strings come back as text and attribute values, and
// none of them became an element.
func TestHTMLReportEscapes(t *testing.T) {
	const tricky = `<script>alert("x")</script> & 'q' + é`
	r := sampleReport()
	r.Target = "js " + tricky
	r.Command = "node " + tricky
	r.Setup = []string{"setup " + tricky}
	r.Cases[1].Title = "title " + tricky
	r.Cases[1].Steps = []conformance.StepResult{{Step: "step 1", Error: "error " + tricky}}
	var b bytes.Buffer
	if err := conformance.WriteHTML(&b, []*conformance.Report{r}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>") {
		t.Errorf("the page holds an unescaped <script>")
	}
	doc, err := html.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(elements(doc, func(n *html.Node) bool { return n.Data == "script" })); n != 0 {
		t.Errorf("%d script elements; want none", n)
	}
	var text strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, want := range []string{r.Column(), r.Command, r.Setup[0], r.Cases[1].Title, "error " + tricky} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the page's text does not hold %q", want)
		}
	}
	counts := elements(doc, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "count") })
	if col, _ := attr(counts[0], "data-column"); len(counts) != 1 || col != r.Column() {
		t.Errorf("data-column %q; want %q", col, r.Column())
	}
	fails := elements(doc, func(n *html.Node) bool { v, _ := attr(n, "data-outcome"); return v == "fail" })
	if title, _ := attr(fails[0], "title"); len(fails) != 1 || title != "step 1: error "+tricky {
		t.Errorf("title of the failed cell %q; want the error", title)
	}
}
