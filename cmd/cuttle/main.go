// Command cuttle is Cuttle's single binary: the USP broker, controller,
// simulator and the all-in-one `cuttle up`, chosen by sub-command. main only
// parses flags and wires components; the work lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// errUsage marks a command-line mistake: the usage was printed and the exit
// status is 2.
var errUsage = errors.New("usage")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "run Cuttle on this machine with its embedded defaults", runUp},
		{"broker", "run the MQTT 5 broker against a NATS server or cluster", runBroker},
		{"controller", "run the USP controller and its REST API against a NATS server or cluster", runController},
		{"creds", "manage device, controller and admin credentials (NATS KV or the API)", runCreds},
		{"device", "list, query, label and operate devices through the API", runDevice},
		{"job", "run one USP operation over many devices through the API", runJob},
		{"events", "query or follow the device event log through the API", runEvents},
		{"token", "manage API tokens", runToken},
		{"completion", "print a bash or zsh completion script", runCompletion},
		{"sim", "run simulated USP devices against a broker", runSim},
		{"nats", "run a NATS server with JetStream, alone or as a cluster member", runNATS},
		{"health", "check a component's health: exit 0 if healthy (for Docker HEALTHCHECK)", runHealth},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "cuttle:", err)
		}
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cuttle:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout)
		}
	}
	fmt.Fprintf(stderr, "cuttle: unknown command %q\n\n", args[0])
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Cuttle: a TR-369 / USP device-management platform over MQTT 5.")
	fmt.Fprintln(w, "\nUsage: cuttle <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	fmt.Fprintf(stdout, "cuttle %s\n", version)
	return nil
}
