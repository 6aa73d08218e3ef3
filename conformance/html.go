package conformance

import (
	"bufio"
	"io"
	"slices"
	"strconv"
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
	p := &htmlWriter{w: bufio.NewWriter(w)}
	p.page(newHTMLData(reports))
	return p.w.Flush()
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

// htmlEscaper escapes text for HTML text and quoted attribute values, as
// html/template does: NUL becomes U+FFFD, and the characters that could
// end or start markup, quotes and + become entities.
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD",
	`"`, "&#34;",
	"&", "&amp;",
	"'", "&#39;",
	"+", "&#43;",
	"<", "&lt;",
	">", "&gt;",
)

// htmlWriter writes the page. Its first write error is kept by its
// bufio.Writer and returned by Flush.
type htmlWriter struct {
	w *bufio.Writer
}

// raw writes markup as is.
func (p *htmlWriter) raw(s ...string) {
	for _, x := range s {
		p.w.WriteString(x)
	}
}

// text writes s escaped, as text or as a quoted attribute value.
func (p *htmlWriter) text(s string) {
	htmlEscaper.WriteString(p.w, s)
}

func (p *htmlWriter) int(n int) {
	p.w.WriteString(strconv.Itoa(n))
}

// list writes the items escaped, separated by ", ", each between before
// and after.
func (p *htmlWriter) list(items []string, before, after string) {
	for i, s := range items {
		if i > 0 {
			p.raw(", ")
		}
		p.raw(before)
		p.text(s)
		p.raw(after)
	}
}

// page writes the whole page for d.
func (p *htmlWriter) page(d htmlData) {
	p.raw(htmlHead)
	p.raw("<p>Suite ")
	p.list(d.Suites, "<code>", "</code>")
	p.raw(": ")
	p.int(len(d.Rows))
	p.raw(" cases.\n", htmlLegend, "</p>\n<ul>\n")
	for _, c := range d.Columns {
		p.raw("<li><b>")
		p.text(c.Name)
		p.raw("</b>")
		if c.Runtime != "" {
			p.raw(": runtime <code>")
			p.text(c.Runtime)
			p.raw("</code>")
		}
		if c.Command != "" {
			p.raw(", started with <code>")
			p.text(c.Command)
			p.raw("</code>")
		}
		p.raw(", suite <code>")
		p.text(c.Suite)
		p.raw("</code>; ")
		p.int(c.Summary.Pass)
		p.raw(" passed, ")
		p.int(c.Summary.Fail)
		p.raw(" failed, ")
		p.int(c.Summary.Unsupported)
		p.raw(" unsupported")
		for _, s := range c.Setup {
			p.raw("<br>setup: ")
			p.text(s)
		}
		p.raw("</li>\n")
	}
	p.raw("</ul>\n",
		`<h2 id="matrix">Matrix</h2>`+"\n",
		`<table id="matrix-table">`+"\n",
		"<thead><tr><th>case</th><th>rules</th>")
	for _, c := range d.Columns {
		p.raw(`<th class="column">`)
		p.text(c.Name)
		p.raw("</th>")
	}
	p.raw("</tr></thead>\n<tbody>\n", `<tr class="counts"><td>failures</td><td></td>`)
	for _, c := range d.Columns {
		p.raw(`<td class="count" data-column="`)
		p.text(c.Name)
		p.raw(`" data-failures="`)
		p.int(c.Summary.Fail)
		p.raw(`">`)
		p.int(c.Summary.Fail)
		p.raw("</td>")
	}
	p.raw("</tr>\n")
	for _, r := range d.Rows {
		p.raw(`<tr class="case" data-case="`)
		p.text(r.ID)
		p.raw(`"><td><code>`)
		p.text(r.ID)
		p.raw(`</code><br><span class="title">`)
		p.text(r.Title)
		p.raw(`</span></td><td class="rules">`)
		p.list(r.Rules, "", "")
		p.raw("</td>")
		for _, c := range r.Cells {
			class := c.Outcome
			if class == "n/a" {
				class = "na"
			}
			p.raw(`<td class="`)
			p.text(class)
			p.raw(`" data-outcome="`)
			p.text(c.Outcome)
			p.raw(`"`)
			if c.Reason != "" {
				p.raw(` title="`)
				p.text(c.Reason)
				p.raw(`"`)
			}
			p.raw(">")
			if c.Anchor != "" {
				// An anchor holds letters, digits and dashes only
				// (htmlAnchor): nothing to escape in the URL.
				p.raw(`<a href="#`)
				p.text(c.Anchor)
				p.raw(`">FAIL</a>`)
			} else {
				p.text(c.Outcome)
			}
			p.raw("</td>")
		}
		p.raw("</tr>\n")
	}
	p.raw("</tbody>\n</table>\n", `<h2 id="failures">Failures</h2>`+"\n")
	if len(d.Fails) == 0 {
		p.raw("<p>No case failed.</p>")
	}
	p.raw("\n")
	for _, f := range d.Fails {
		p.raw(`<section class="failure" id="`)
		p.text(f.Anchor)
		p.raw(`">` + "\n<h3><code>")
		p.text(f.ID)
		p.raw("</code> in ")
		p.text(f.Column)
		p.raw("</h3>\n<p>")
		p.text(f.Title)
		p.raw(" (")
		p.list(f.Rules, "", "")
		p.raw(")</p>\n", `<pre class="diff">`)
		p.text(f.Diff)
		p.raw("</pre>\n</section>\n")
	}
	p.raw("\n", `<h2 id="rules">Rules</h2>`+"\n", `<table id="rules-table">`+"\n",
		"<thead><tr><th>rule</th><th>what it asks</th><th>cases citing it</th></tr></thead>\n<tbody>\n")
	for _, r := range d.Rules {
		p.raw(`<tr class="rule"><td>`)
		p.text(r.Rule)
		p.raw("</td><td>")
		p.text(r.Title)
		p.raw("</td><td>")
		p.list(r.Cases, "<code>", "</code>")
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody>\n</table>\n</body>\n</html>\n")
}

// htmlHead is the start of the page, up to its first paragraph.
const htmlHead = `<!DOCTYPE html>
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
`

// htmlLegend is the legend of the outcomes' colours.
const htmlLegend = `<span class="legend"><span style="background:#d8f5d8">pass</span><span style="background:#f8c8c8">fail</span><span style="background:#f5ecc8">unsupported</span><span style="background:#eee">n/a (other transport)</span></span>`
