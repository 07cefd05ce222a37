package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/configuration.md from the commands' --help")

// configDocCommands are the long-running commands whose options
// docs/configuration.md lists, with what each is for.
var configDocCommands = []struct{ name, about string }{
	{"up", "Everything on one machine: an embedded NATS JetStream server (loopback only), the broker, the controller with its API and web console, and optionally simulated devices. It takes the broker's and the controller's options except those that name an external NATS."},
	{"broker", "The MQTT 5 broker alone, against a NATS server or cluster."},
	{"controller", "The USP controller, its REST API and web console alone, against a NATS server or cluster and a broker."},
	{"sim", "Simulated USP devices (`docs/simulator.md`)."},
	{"nats", "A NATS JetStream server, alone or as a cluster member (what the Compose stack runs)."},
}

// TestConfigurationDoc checks that docs/configuration.md is what the
// commands' --help says today; `go test ./cmd/cuttle -run
// TestConfigurationDoc -update-docs` rewrites it.
func TestConfigurationDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from `cuttle <command> --help` by TestConfigurationDoc in cmd/cuttle/configdoc_test.go;\n")
	b.WriteString("     do not edit. Regenerate: go test ./cmd/cuttle -run TestConfigurationDoc -update-docs -->\n\n")
	b.WriteString("Every option has three names: the flag `--max-connections`, the environment variable\n")
	b.WriteString("`CUTTLE_MAX_CONNECTIONS` (upper case, `-` as `_`) and the key `max-connections:` in the YAML\n")
	b.WriteString("file given with `--config` (or `CUTTLE_CONFIG`). A flag beats the environment, which beats the\n")
	b.WriteString("file, which beats the default. Durations read like `10s` or `1h30m`; sizes accept `KiB`/`MiB`.\n")
	b.WriteString("Unknown keys and bad values are errors that name the option.\n\n")
	b.WriteString("The API commands (`cuttle device`, `job`, `events`, `token`) take `--server`/`CUTTLE_SERVER`\n")
	b.WriteString("and `--token`/`CUTTLE_TOKEN`; `cuttle creds` takes the NATS options shown by `cuttle creds add --help`.\n\n")
	for _, c := range configDocCommands {
		fmt.Fprintf(&b, "- [`cuttle %s`](#cuttle-%s)\n", c.name, c.name)
	}
	for _, c := range configDocCommands {
		fmt.Fprintf(&b, "\n## cuttle %s\n\n%s\n\n", c.name, c.about)
		b.WriteString("| option | environment | default | what it does |\n|---|---|---|---|\n")
		opts := parseHelp(t, helpOf(t, c.name))
		if len(opts) < 3 {
			t.Fatalf("cuttle %s --help: only %d options parsed", c.name, len(opts))
		}
		for _, o := range opts {
			def := ""
			if o.def != "" {
				def = "`" + o.def + "`"
			}
			env := "`CUTTLE_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_")) + "`"
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", o.name, env, def, mdCell(o.help))
		}
	}
	want := b.String()
	file := filepath.Join("..", "..", "docs", "configuration.md")
	if *updateDocs {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (regenerate: go test ./cmd/cuttle -run TestConfigurationDoc -update-docs)", err)
	}
	if string(have) != want {
		t.Errorf("docs/configuration.md is out of date with the commands' --help; regenerate it: go test ./cmd/cuttle -run TestConfigurationDoc -update-docs")
	}
}

// TestHelpProcess is not a test: helpOf runs the test binary as `cuttle
// <command> --help`, because the commands print their usage on os.Stderr.
func TestHelpProcess(t *testing.T) {
	cmd := os.Getenv("CUTTLE_HELP_PROCESS")
	if cmd == "" {
		t.Skip("run by helpOf only")
	}
	err := run(context.Background(), []string{cmd, "--help"}, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "help failed:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helpOf(t *testing.T, cmd string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, "-test.run=^TestHelpProcess$")
	c.Env = append(os.Environ(), "CUTTLE_HELP_PROCESS="+cmd)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("cuttle %s --help: %v\n%s", cmd, err, out)
	}
	return string(out)
}

type helpOption struct{ name, def, help string }

var (
	helpFlagLine = regexp.MustCompile(`^  -([a-z0-9-]+)`)
	helpDefault  = regexp.MustCompile(` \(default (.*)\)$`)
)

// parseHelp reads the option list flag.PrintDefaults writes: "  -name
// type" lines, each followed by its usage lines indented with a tab.
func parseHelp(t *testing.T, help string) []helpOption {
	t.Helper()
	var out []helpOption
	for _, line := range strings.Split(help, "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			out = append(out, helpOption{name: m[1]})
			continue
		}
		if len(out) == 0 || !strings.HasPrefix(line, "    \t") {
			continue
		}
		o := &out[len(out)-1]
		text := strings.TrimPrefix(line, "    \t")
		if o.help != "" {
			o.help += " "
		}
		o.help += text
	}
	for i := range out {
		if m := helpDefault.FindStringSubmatch(out[i].help); m != nil {
			out[i].def = strings.Trim(m[1], `"`)
			out[i].help = strings.TrimSuffix(out[i].help, m[0])
		}
	}
	return out
}

// mdCell makes text safe in a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}
