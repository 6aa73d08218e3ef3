package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// JUnit XML, as CI systems read it: one <testsuite> per report, one
// <testcase> per case, a <failure> holding the case's diff, and <skipped>
// for an unsupported case.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure"`
	Skipped   *junitMessage `xml:"skipped"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d Duration) string {
	return fmt.Sprintf("%.3f", time.Duration(d).Seconds())
}

// WriteJUnit writes the reports as one JUnit XML document: a test suite
// per report, named by its column ("target (transport)"), with a test case
// per case whose class name is the transport and the case's folder
// (v1.run for run/echo over v1). A failed case carries its diff and the
// rules it checks; an unsupported one is skipped with the reason.
func WriteJUnit(w io.Writer, reports []*Report) error {
	doc := junitSuites{Name: "genkit-runtime conformance"}
	var total time.Duration
	for _, r := range reports {
		s := junitSuite{
			Name: r.Column(), Tests: len(r.Cases), Failures: r.Summary.Fail, Skipped: r.Summary.Unsupported,
			Time: seconds(r.Duration), Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"),
			Properties: []junitProperty{{"suiteVersion", r.SuiteVersion}, {"transport", string(r.Transport)}},
		}
		if r.GenkitVersion != "" {
			s.Properties = append(s.Properties, junitProperty{"genkitVersion", r.GenkitVersion})
		}
		if r.Command != "" {
			s.Properties = append(s.Properties, junitProperty{"command", r.Command})
		}
		for _, p := range r.Setup {
			s.Properties = append(s.Properties, junitProperty{"setupProblem", p})
		}
		for _, c := range r.Cases {
			folder, _, _ := strings.Cut(c.ID, "/")
			jc := junitCase{Name: c.ID, Classname: string(r.Transport) + "." + folder, Time: seconds(c.Duration)}
			switch c.Outcome {
			case Fail:
				jc.Failure = &junitMessage{Message: c.FirstProblem(), Type: "mismatch",
					Text: c.Title + "\nrules: " + strings.Join(c.Rules, ", ") + "\n\n" + c.Diff()}
			case Unsupported:
				jc.Skipped = &junitMessage{Message: c.Reason}
			}
			s.Cases = append(s.Cases, jc)
		}
		if r.Failed() {
			s.SystemOut = r.Output
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		total += time.Duration(r.Duration)
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = seconds(Duration(total))
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnit writes the report as JUnit XML; see the function WriteJUnit.
func (r *Report) WriteJUnit(w io.Writer) error { return WriteJUnit(w, []*Report{r}) }
