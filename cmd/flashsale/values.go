package main

import (
	"flashsale/httpapi"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// The parsers of settings. Each is a flag.Value over the setting's field
// of a config; a bad value leaves the field as it was.

// textValue is a string, checked and perhaps normalised by parse.
type textValue struct {
	p     *string
	parse func(string) (string, error) // nil takes any string
}

func text(p *string, parse func(string) (string, error)) textValue { return textValue{p, parse} }

func (t textValue) Set(v string) error {
	if t.parse != nil {
		parsed, err := t.parse(v)
		if err != nil {
			return err
		}
		v = parsed
	}
	*t.p = v
	return nil
}
func (t textValue) String() string { return *t.p }
func (t textValue) Get() any       { return *t.p }

// oneOf accepts only the given words.
func oneOf(what string, words ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		for _, w := range words {
			if v == w {
				return v, nil
			}
		}
		return "", fmt.Errorf("%q is not a %s (%s)", v, what, strings.Join(words, ", "))
	}
}

func parseDB(v string) (string, error) {
	if !strings.HasPrefix(v, "sqlite://") && !strings.HasPrefix(v, "mysql://") {
		return "", fmt.Errorf("unknown scheme in %q: want sqlite://PATH or mysql://DSN", maskDB(v))
	}
	return v, nil
}

// parseTarget checks --target: an http or https URL of a server.
func parseTarget(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not a server URL such as http://127.0.0.1:8080", v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func parseComparison(v string) (string, error) {
	if v != "" && v != "ceiling" {
		return "", fmt.Errorf("%q: only ceiling can be compared with", v)
	}
	return v, nil
}

// durationValue is a positive Go duration.
type durationValue struct{ p *time.Duration }

func duration(p *time.Duration) durationValue { return durationValue{p} }

func (d durationValue) Set(v string) error {
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 2m or 500ms", v)
	}
	if parsed <= 0 {
		return fmt.Errorf("%q must be positive", v)
	}
	*d.p = parsed
	return nil
}
func (d durationValue) String() string { return d.p.String() }
func (d durationValue) Get() any       { return *d.p }

// countValue is a positive integer, at most most unless most is 0.
type countValue[T int | int64] struct {
	p    *T
	most int64
}

func count[T int | int64](p *T, most int64) countValue[T] { return countValue[T]{p, most} }

func (c countValue[T]) Set(v string) error {
	parsed, err := strconv.ParseInt(v, 10, 64)
	switch {
	case c.most == 0 && (err != nil || parsed < 1):
		return fmt.Errorf("%q is not a positive integer", v)
	case c.most != 0 && (err != nil || parsed < 1 || parsed > c.most):
		return fmt.Errorf("%q is not an integer from 1 to %d", v, c.most)
	}
	*c.p = T(parsed)
	return nil
}
func (c countValue[T]) String() string { return strconv.FormatInt(int64(*c.p), 10) }
func (c countValue[T]) Get() any       { return *c.p }

// boolValue is a flag that may stand alone: --step is --step=true.
type boolValue struct{ p *bool }

func boolean(p *bool) boolValue { return boolValue{p} }

func (b boolValue) Set(v string) error {
	parsed, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", v)
	}
	*b.p = parsed
	return nil
}
func (b boolValue) String() string   { return strconv.FormatBool(*b.p) }
func (b boolValue) Get() any         { return *b.p }
func (b boolValue) IsBoolFlag() bool { return true }

type logLevel struct{ p *zerolog.Level }

func (l logLevel) Set(v string) error {
	parsed, err := zerolog.ParseLevel(strings.ToLower(v))
	if err != nil || v == "" {
		return fmt.Errorf("%q is not a log level (debug, info, warn, error)", v)
	}
	*l.p = parsed
	return nil
}
func (l logLevel) String() string { return l.p.String() }
func (l logLevel) Get() any       { return *l.p }

// rate is requests per second, 0 or more.
type rate struct{ p *float64 }

func (r rate) Set(v string) error {
	parsed, err := strconv.ParseFloat(v, 64)
	if err != nil || parsed < 0 || math.IsInf(parsed, 0) || math.IsNaN(parsed) {
		return fmt.Errorf("%q is not a rate: a number of requests per second, 0 for a closed loop", v)
	}
	*r.p = parsed
	return nil
}
func (r rate) String() string { return strconv.FormatFloat(*r.p, 'g', -1, 64) }
func (r rate) Get() any       { return *r.p }

// originsValue is the origins allowed to call the API from a browser:
// comma-separated, or *; empty is none.
type originsValue struct{ p *[]string }

func origins(p *[]string) originsValue { return originsValue{p} }

func (o originsValue) Set(v string) error {
	parsed, err := httpapi.ParseOrigins(v)
	if err != nil {
		return err
	}
	*o.p = parsed
	return nil
}

func (o originsValue) String() string {
	if o.p == nil {
		return ""
	}
	return strings.Join(*o.p, ",")
}
func (o originsValue) Get() any { return o.String() }

// listValue is a comma-separated list; blanks around items are dropped.
type listValue struct{ p *[]string }

func list(p *[]string) listValue { return listValue{p} }

func (l listValue) Set(v string) error {
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	*l.p = items
	return nil
}

func (l listValue) String() string { return strings.Join(*l.p, ",") }
func (l listValue) Get() any       { return l.String() }
