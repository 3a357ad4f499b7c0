package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writeReport writes the run as one HTML page that needs nothing else to
// be read: its style and charts (SVG) are inline, and it runs no script.
func writeReport(path string, s Summary) error {
	head, problems := s.booksLines()
	page := reportPage{
		Summary: s, Mode: loopMode(s.Rate), Written: time.Now().UTC().Format(time.RFC3339),
		Loads: []reportLoad{newReportLoad(s.Scenario, s.Load)},
		Books: head, BooksOK: s.Books.OK, Problems: problems,
	}
	if s.Ceiling != nil {
		page.Loads = append(page.Loads, newReportLoad("ceiling (GET /healthz, same client)", s.Ceiling.Load))
		page.Ratio = fmt.Sprintf("%s ÷ ceiling: %.0f ÷ %.0f req/s = %.2f", s.Scenario, s.RequestsPerSecond, s.Ceiling.RequestsPerSecond, s.Ceiling.Ratio)
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, page); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

type reportPage struct {
	Summary
	Mode, Written string
	Loads         []reportLoad
	Ratio         string
	Books         string
	BooksOK       bool
	Problems      []string
}

// reportLoad is one scenario's run as the page shows it.
type reportLoad struct {
	Title      string
	Load       Load
	Rows       []Op // each operation, then all together when there are several
	Statuses   []statusCount
	Throughput template.HTML // SVG
	Latency    template.HTML // SVG
	Curve      template.HTML // SVG
}

type statusCount struct {
	Status string
	Count  int64
}

func newReportLoad(title string, l Load) reportLoad {
	rl := reportLoad{Title: title, Load: l, Rows: l.Operations}
	if len(rl.Rows) != 1 {
		all := l.Op
		all.Name = "all"
		rl.Rows = append(slices.Clone(rl.Rows), all)
	}
	for code, n := range l.Statuses {
		rl.Statuses = append(rl.Statuses, statusCount{code, n})
	}
	if l.NoAnswer > 0 {
		rl.Statuses = append(rl.Statuses, statusCount{"no answer", l.NoAnswer})
	}
	slices.SortFunc(rl.Statuses, func(a, b statusCount) int { return strings.Compare(a.Status, b.Status) })

	var rps, p50, p99 []point
	for _, sec := range l.Seconds {
		x := float64(sec.N)
		rps = append(rps, point{x, sec.RequestsPerSecond})
		p50 = append(p50, point{x, sec.P50})
		p99 = append(p99, point{x, sec.P99})
	}
	seconds := axis{min: 0.5, max: float64(len(l.Seconds)) + 0.5, label: "second of the run"}
	seconds.ticks = linearTicks(1, float64(len(l.Seconds)))
	rl.Throughput = chart{x: seconds, y: axis{label: "requests/s"}, series: []series{{"requests/s", "#2b6cb0", rps}}}.svg()
	rl.Latency = chart{x: seconds, y: axis{label: "latency, ms"}, series: []series{
		{"p50", "#2f855a", p50}, {"p99", "#c05621", p99},
	}}.svg()

	// The percentile curve on a scale of nines: 90 %, 99 %, 99.9 % are
	// evenly spaced, as HdrHistogram's plots show them.
	var curve []point
	nines := axis{label: "percentile"}
	for _, p := range l.Percentiles {
		x := math.Log10(100 / math.Max(100-p.Percentile, 1e-9))
		if p.Percentile == 100 {
			x = math.Ceil(math.Log10(float64(l.Requests))*10) / 10 // the maximum, where the count ends
		}
		curve = append(curve, point{x, p.Latency})
		nines.max = max(nines.max, x)
	}
	for n := 0.0; n <= nines.max; n++ {
		nines.ticks = append(nines.ticks, tick{n, ninesLabel(int(n))})
	}
	rl.Curve = chart{x: nines, y: axis{label: "latency, ms"}, series: []series{{"latency", "#6b46c1", curve}}}.svg()
	return rl
}

// ninesLabel names n nines: 0 %, 90 %, 99 %, 99.9 % …
func ninesLabel(n int) string {
	switch n {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", n-2) + "%"
}

// A chart is an SVG line chart of one or more series over two axes.
type chart struct {
	x, y   axis
	series []series
}

type axis struct {
	label    string
	min, max float64 // for y, from 0, and a max of 0 takes the series' maximum
	ticks    []tick  // for y, none takes round ones
}

type tick struct {
	at    float64
	label string
}

type series struct {
	name, color string
	points      []point
}

type point struct{ x, y float64 }

const (
	chartWidth, chartHeight = 760, 260
	left, right, top, foot  = 64, 16, 16, 44 // margins
)

func (c chart) svg() template.HTML {
	if c.y.max == 0 {
		for _, s := range c.series {
			for _, p := range s.points {
				c.y.max = max(c.y.max, p.y)
			}
		}
	}
	if c.y.ticks == nil {
		c.y.ticks, c.y.max = roundTicks(c.y.max)
	}
	c.x.max = max(c.x.max, c.x.min+1)
	w, h := float64(chartWidth-left-right), float64(chartHeight-top-foot)
	px := func(x float64) float64 { return left + (x-c.x.min)/(c.x.max-c.x.min)*w }
	py := func(y float64) float64 { return top + h - y/c.y.max*h }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-size="11">`, chartWidth, chartHeight, chartWidth, chartHeight)
	for _, t := range c.y.ticks {
		y := py(t.at)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			left, left+w, y, y, left-6, y+4, template.HTMLEscapeString(t.label))
	}
	for _, t := range c.x.ticks {
		x := px(t.at)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#cbd5e0"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
			x, x, top, top+h+4, x, top+h+16, template.HTMLEscapeString(t.label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#a0aec0"/>`, left, top, w, h)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, left+w/2, chartHeight-6, template.HTMLEscapeString(c.x.label))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, top+h/2, template.HTMLEscapeString(c.y.label))
	for i, s := range c.series {
		pts := make([]string, len(s.points))
		for j, p := range s.points {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-points="%d" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, len(s.points), s.color, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, x, y, s.color)
		}
		if len(c.series) > 1 {
			lx := left + 12 + float64(i)*70
			fmt.Fprintf(&b, `<rect x="%.0f" y="%d" width="10" height="10" fill="%s"/><text x="%.0f" y="%d">%s</text>`,
				lx, top+8, s.color, lx+14, top+17, template.HTMLEscapeString(s.name))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// linearTicks are ticks at whole numbers from first to last, at most
// about twelve of them.
func linearTicks(first, last float64) []tick {
	step := max(math.Ceil((last-first+1)/12), 1)
	var ticks []tick
	for v := first; v <= last; v += step {
		ticks = append(ticks, tick{v, strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// roundTicks are four or five round ticks from 0 to at least top, and
// the axis maximum they end at.
func roundTicks(top float64) ([]tick, float64) {
	if top <= 0 {
		top = 1
	}
	raw := top / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []tick
	for v := 0.0; ; v += step {
		ticks = append(ticks, tick{v, strconv.FormatFloat(v, 'f', -1, 64)})
		if v >= top {
			return ticks, v
		}
	}
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":    fmtMs,
	"whole": func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>flashsale bench: {{.Scenario}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #1a202c; margin: 24px auto; max-width: 800px; padding: 0 16px; }
h1 { font-size: 20px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; } h3 { font-size: 14px; margin: 18px 0 4px; }
.sub { color: #4a5568; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #e2e8f0; }
th:first-child, td:first-child { text-align: left; }
.ok { color: #276749; font-weight: 600; } .bad { color: #c53030; font-weight: 600; }
svg { display: block; margin: 4px 0 8px; } svg text { fill: #4a5568; }
</style>
</head>
<body>
<h1>flashsale bench: {{.Scenario}}</h1>
<p class="sub">against {{.Target}}: {{.Connections}} connections, {{.Mode}}, {{.Duration}}; written {{.Written}}</p>
<p class="{{if .BooksOK}}ok{{else}}bad{{end}}" id="books">{{.Books}}</p>
{{with .Problems}}<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Ratio}}<p id="ratio">{{.}}</p>{{end}}
{{range .Loads}}
<h2>{{.Title}}, ran {{.Load.Elapsed}}</h2>
<table class="operations">
<tr><th>operation</th><th>requests</th><th>req/s</th><th>errors</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="requests">{{.Requests}}</td><td>{{whole .RequestsPerSecond}}</td><td>{{.Errors}}</td><td>{{ms .Latency.P50}}</td><td>{{ms .Latency.P90}}</td><td>{{ms .Latency.P99}}</td><td>{{ms .Latency.Max}}</td></tr>
{{end}}</table>
<table class="statuses">
<tr><th>status</th><th>answers</th></tr>
{{range .Statuses}}<tr><td>{{.Status}}</td><td data-status="{{.Status}}">{{.Count}}</td></tr>
{{end}}</table>
{{with .Load.Unsent}}<p class="bad">unsent: {{.}} scheduled requests were never sent, every connection was busy: the server did not keep up with the rate</p>{{end}}
<h3>requests/s, each second</h3>
{{.Throughput}}
<h3>latency p50 and p99, each second</h3>
{{.Latency}}
<h3>latency by percentile, the whole run</h3>
{{.Curve}}
<details><summary>each second</summary>
<table class="seconds">
<tr><th>second</th><th>requests</th><th>req/s</th><th>errors</th><th>p50</th><th>p99</th></tr>
{{range .Load.Seconds}}<tr class="second"><td>{{.N}}</td><td>{{.Requests}}</td><td>{{whole .RequestsPerSecond}}</td><td>{{.Errors}}</td><td>{{ms .P50}}</td><td>{{ms .P99}}</td></tr>
{{end}}</table>
</details>
{{end}}
</body>
</html>
`))
