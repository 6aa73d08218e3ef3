package conformance

import (
	"html/template"
	"io"
	"slices"
	"strings"
)

// WriteHTML writes reports as one self-contained HTML page (no scripts,
// styles inline, nothing fetched): the matrix of cases × reports, each
// cell coloured by outcome, with the failure count of each column; then
// each failure's diff; then the rules the cases cite, each with what it
// asks (for the rules of protocol.md §8, see Rules) and the cases citing
// it.
//
// The page is meant to be read by people and by tools: each case row is
// a <tr class="case" data-case="ID">, each outcome cell has
// data-outcome ("pass", "fail", "unsupported" or "n/a"), and the counts
// row holds, per column, a cell with data-column and data-failures.
func WriteHTML(w io.Writer, reports []*Report) error {
	return htmlPage.Execute(w, newHTMLData(reports))
}

type htmlData struct {
	Columns []htmlColumn
	Rows    []htmlRow
	Fails   []htmlFailure
	Rules   []htmlRule
	Suites  []string
}

type htmlColumn struct {
	Name, Runtime, Command, Suite string
	Summary                       Summary
	Setup                         []string
}

type htmlRow struct {
	ID, Title string
	Rules     []string
	Cells     []htmlCell
}

type htmlCell struct {
	Outcome string // pass, fail, unsupported, n/a
	Anchor  string // of the failure's diff
	Reason  string
}

type htmlFailure struct {
	Anchor, Column, ID, Title, Diff string
	Rules                           []string
}

type htmlRule struct {
	Rule, Title string // Title, for a rule of the catalogue (Rules)
	Cases       []string
}

func newHTMLData(reports []*Report) htmlData {
	var d htmlData
	titles := map[string]string{}
	rules := map[string][]string{}
	caseRules := map[string][]string{}
	results := make([]map[string]CaseResult, len(reports))
	for i, r := range reports {
		d.Columns = append(d.Columns, htmlColumn{Name: r.Column(), Runtime: r.GenkitVersion, Command: r.Command,
			Suite: r.SuiteVersion, Summary: r.Summary, Setup: r.Setup})
		if !slices.Contains(d.Suites, r.SuiteVersion) {
			d.Suites = append(d.Suites, r.SuiteVersion)
		}
		results[i] = map[string]CaseResult{}
		for _, c := range r.Cases {
			results[i][c.ID] = c
			if _, ok := titles[c.ID]; !ok {
				titles[c.ID] = c.Title
				caseRules[c.ID] = c.Rules
				for _, rule := range c.Rules {
					rules[rule] = append(rules[rule], c.ID)
				}
			}
		}
	}
	ids := make([]string, 0, len(titles))
	for id := range titles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		row := htmlRow{ID: id, Title: titles[id], Rules: caseRules[id]}
		for i, r := range reports {
			c, ok := results[i][id]
			cell := htmlCell{Outcome: "n/a"}
			if ok {
				cell.Outcome = string(c.Outcome)
				cell.Reason = c.Reason
			}
			if ok && c.Outcome == Fail {
				cell.Anchor = htmlAnchor(r.Column(), id)
				cell.Reason = c.FirstProblem()
				d.Fails = append(d.Fails, htmlFailure{Anchor: cell.Anchor, Column: r.Column(), ID: id,
					Title: c.Title, Rules: c.Rules, Diff: c.Diff()})
			}
			row.Cells = append(row.Cells, cell)
		}
		d.Rows = append(d.Rows, row)
	}
	names := make([]string, 0, len(rules))
	for r := range rules {
		names = append(names, r)
	}
	slices.SortFunc(names, compareRules)
	catalogue := Rules()
	for _, r := range names {
		cs := rules[r]
		slices.Sort(cs)
		hr := htmlRule{Rule: r, Cases: cs}
		for _, c := range catalogue {
			if Cites(r, c.Rule) {
				hr.Title = c.Title
			}
		}
		d.Rules = append(d.Rules, hr)
	}
	return d
}

// htmlAnchor names the diff of a case's failure in a column.
func htmlAnchor(column, id string) string {
	var b strings.Builder
	b.WriteString("fail-")
	for _, r := range column + "-" + id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Genkit Reflection API conformance</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.pass { background: #d8f5d8; }
td.fail { background: #f8c8c8; font-weight: bold; }
td.unsupported { background: #f5ecc8; }
td.na { background: #eee; color: #888; }
td.rules, td.title { font-size: 12px; color: #444; }
tr.counts td { font-weight: bold; background: #fafafa; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
code { font-size: 12px; }
.legend span { padding: 2px 8px; margin-right: .5em; }
</style>
</head>
<body>
<h1>Genkit Reflection API conformance</h1>
<p>Suite {{range $i, $s := .Suites}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}: {{len .Rows}} cases.
<span class="legend"><span style="background:#d8f5d8">pass</span><span style="background:#f8c8c8">fail</span><span style="background:#f5ecc8">unsupported</span><span style="background:#eee">n/a (other transport)</span></span></p>
<ul>
{{range .Columns}}<li><b>{{.Name}}</b>{{if .Runtime}}: runtime <code>{{.Runtime}}</code>{{end}}{{if .Command}}, started with <code>{{.Command}}</code>{{end}}, suite <code>{{.Suite}}</code>; {{.Summary.Pass}} passed, {{.Summary.Fail}} failed, {{.Summary.Unsupported}} unsupported{{range .Setup}}<br>setup: {{.}}{{end}}</li>
{{end}}</ul>
<h2 id="matrix">Matrix</h2>
<table id="matrix-table">
<thead><tr><th>case</th><th>rules</th>{{range .Columns}}<th class="column">{{.Name}}</th>{{end}}</tr></thead>
<tbody>
<tr class="counts"><td>failures</td><td></td>{{range .Columns}}<td class="count" data-column="{{.Name}}" data-failures="{{.Summary.Fail}}">{{.Summary.Fail}}</td>{{end}}</tr>
{{range .Rows}}<tr class="case" data-case="{{.ID}}"><td><code>{{.ID}}</code><br><span class="title">{{.Title}}</span></td><td class="rules">{{range $i, $r := .Rules}}{{if $i}}, {{end}}{{$r}}{{end}}</td>{{range .Cells}}<td class="{{if eq .Outcome "n/a"}}na{{else}}{{.Outcome}}{{end}}" data-outcome="{{.Outcome}}"{{if .Reason}} title="{{.Reason}}"{{end}}>{{if .Anchor}}<a href="#{{.Anchor}}">FAIL</a>{{else}}{{.Outcome}}{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<h2 id="failures">Failures</h2>
{{if not .Fails}}<p>No case failed.</p>{{end}}
{{range .Fails}}<section class="failure" id="{{.Anchor}}">
<h3><code>{{.ID}}</code> in {{.Column}}</h3>
<p>{{.Title}} ({{range $i, $r := .Rules}}{{if $i}}, {{end}}{{$r}}{{end}})</p>
<pre class="diff">{{.Diff}}</pre>
</section>
{{end}}
<h2 id="rules">Rules</h2>
<table id="rules-table">
<thead><tr><th>rule</th><th>what it asks</th><th>cases citing it</th></tr></thead>
<tbody>
{{range .Rules}}<tr class="rule"><td>{{.Rule}}</td><td>{{.Title}}</td><td>{{range $i, $c := .Cases}}{{if $i}}, {{end}}<code>{{$c}}</code>{{end}}</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))
