package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"flashsale/actors"
)

// TestREADMEConfigurationTable: the README's table of settings lists
// exactly the settings table's, with the same environment variables and
// defaults.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const header = "| flag | environment | default | meaning |"
	_, table, found := strings.Cut(string(readme), header+"\n")
	if !found {
		t.Fatalf("the README has no table headed %s", header)
	}
	var documented []string
	for _, line := range strings.Split(table, "\n")[1:] { // past |---|
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("README row %q has fewer than four cells", line)
		}
		env, def := unquote(cells[1]), unquote(cells[2])
		if env == "—" {
			env = ""
		}
		if def == "empty" || def == "none" {
			def = ""
		}
		// A flag of one command says so first: "`bench`: …".
		only, _, _ := strings.Cut(strings.TrimSpace(cells[3]), ":")
		if len(only) < 3 || !strings.HasPrefix(only, "`") || !strings.HasSuffix(only, "`") || strings.Contains(only, " ") {
			only = ""
		}
		documented = append(documented, strings.Join([]string{unquote(cells[0]), env, def, unquote(only)}, " "))
	}
	var want []string
	for _, s := range settings(&config{}) {
		only := ""
		if len(s.commands) == 1 {
			only = s.commands[0]
		}
		want = append(want, strings.Join([]string{"--" + s.name, s.env, s.def, only}, " "))
	}
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) {
		t.Errorf("the README's settings (flag env default, and the one command that takes it):\n%s\nthe settings table's:\n%s",
			strings.Join(documented, "\n"), strings.Join(want, "\n"))
	}
}

func unquote(cell string) string { return strings.Trim(strings.TrimSpace(cell), "`") }

func TestSettingsTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range settings(&config{}) {
		for _, c := range s.commands {
			if _, ok := commandNamed(c); !ok {
				t.Errorf("--%s: taken by %q, which is no command", s.name, c)
			}
			if seen[c+" "+s.name] {
				t.Errorf("%s has two settings --%s", c, s.name)
			}
			seen[c+" "+s.name] = true
		}
		if s.env != "" && s.env != "FLASHSALE_"+strings.ToUpper(strings.ReplaceAll(s.name, "-", "_")) {
			t.Errorf("--%s: environment variable %s; want FLASHSALE_ and the flag's name", s.name, s.env)
		}
	}
}

// TestHelp: -h exits 0 and lists every command, and a command's -h lists
// its flags and no other.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, c := range append([]string{""}, commandNames()...) {
		args := []string{"-h"}
		if c != "" {
			args = []string{c, "-h"}
		}
		var stderr bytes.Buffer
		err := run(context.Background(), args, noEnv, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if !errors.Is(err, errHelp) {
			t.Fatalf("flashsale %q = %v; want help", args, err)
		}
		out := stderr.String()
		for _, name := range commandNames() {
			if !strings.Contains(out, "\n  "+name+" ") {
				t.Errorf("flashsale %q does not list the command %s:\n%s", args, name, out)
			}
		}
		command := c
		if command == "" {
			command = "serve"
		}
		for _, s := range settings(&config{}) {
			if listed := strings.Contains(out, "\n  --"+s.name+" "); listed != slices.Contains(s.commands, command) && s.name != "json" {
				t.Errorf("flashsale %q lists --%s: %v; want %v:\n%s", args, s.name, listed, !listed, out)
			}
		}
	}
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

// TestEachCommandTakesItsOwnFlags: a flag of another command is an
// unknown flag, a bad setting.
func TestEachCommandTakesItsOwnFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--product", "1"},
		{"check", "--hold-ttl", "1m"},
		{"events", "--scenario", "hot"},
		{"bench", "--db", "sqlite://x.db"},
	} {
		_, err := loadConfig(args, noEnv, &bytes.Buffer{})
		if bad, ok := errors.AsType[*settingError](err); !ok || !strings.Contains(bad.Error(), "not defined") {
			t.Errorf("flashsale %q: %v; want an unknown flag", args, err)
		}
	}
	// An environment variable of a setting the command does not take is
	// not read.
	_, err := loadConfig([]string{"check"}, func(k string) (string, bool) {
		v, ok := map[string]string{"FLASHSALE_HOLD_TTL": "nope"}[k]
		return v, ok
	}, &bytes.Buffer{})
	if err != nil {
		t.Errorf("check with a bad FLASHSALE_HOLD_TTL: %v; want it ignored", err)
	}
}

// TestActorConfigSetsEveryField: the server decides every setting of its
// product actors, and the settings' defaults are the actor package's, so
// the two cannot drift apart.
func TestActorConfigSetsEveryField(t *testing.T) {
	t.Parallel()
	acfg := actorConfig(defaultConfig("serve"), actors.NewMetrics(prometheus.NewRegistry()))
	v := reflect.ValueOf(acfg)
	for i := range v.NumField() {
		// Node is the cluster's to set: empty outside one.
		if name := v.Type().Field(i).Name; v.Field(i).IsZero() && name != "Node" {
			t.Errorf("actorConfig leaves %s unset", name)
		}
	}
	d := actors.DefaultConfig()
	if acfg.HoldTTL != d.HoldTTL || acfg.PaymentTTL != d.PaymentTTL || acfg.MaxBacklog != d.MaxBacklog || acfg.PassivateAfter != d.PassivateAfter ||
		acfg.Pipeline != d.Pipeline {
		t.Errorf("the settings' defaults give %+v; the actor package's are %+v", acfg, d)
	}
}
