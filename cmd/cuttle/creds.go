package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// credsConnectTimeout bounds dialling NATS, so a script against a server
// that is down fails in seconds rather than hanging.
const credsConnectTimeout = 3 * time.Second

// maxBulkCount keeps bulk endpoint IDs at six digits, as "%06d" writes them.
const maxBulkCount = 999_999

// runCreds is `cuttle creds`: provisioning of broker credentials and of the
// certificate revocation list, straight against NATS KV or through a
// controller's API (credsbackend.go).
func runCreds(ctx context.Context, args []string, stdout io.Writer) error {
	c := credsCLI{stdin: os.Stdin, stdout: stdout, stderr: os.Stderr, getenv: os.Getenv}
	return exitWith(c.run(ctx, args), os.Stderr, os.Exit)
}

// credsCLI holds the command's I/O, so tests can run it in-process.
type credsCLI struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type credsSubcommand struct {
	name, args, summary string
	run                 func(c credsCLI, ctx context.Context, args []string) error
}

func credsSubcommands() []credsSubcommand {
	return []credsSubcommand{
		{"add", "--role R (--endpoint-id ID | --count N --id-prefix P)", "create credentials and print their secrets, once", credsCLI.add},
		{"ls", "", "list credentials", credsCLI.list},
		{"disable", "USERNAME...", "refuse a credential; the broker disconnects its sessions", credsCLI.disable},
		{"enable", "USERNAME...", "accept a disabled credential again", credsCLI.enable},
		{"rm", "USERNAME...", "delete a credential; the broker disconnects its sessions", credsCLI.remove},
		{"rotate", "USERNAME", "replace a secret with a new generated token and print it", credsCLI.rotate},
		{"revoke-cert", "serial:HEX|sha256:HEX [--reason R]", "refuse a client certificate", credsCLI.revokeCert},
		{"unrevoke-cert", "serial:HEX|sha256:HEX", "accept a revoked certificate again", credsCLI.unrevokeCert},
		{"revoked", "", "list revoked certificates", credsCLI.listRevoked},
	}
}

func (c credsCLI) run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, sub := range credsSubcommands() {
		if sub.name == args[0] {
			return sub.run(c, ctx, args[1:])
		}
	}
	fmt.Fprintf(c.stderr, "cuttle creds: unknown command %q\n\n", args[0])
	c.usage()
	return errUsage
}

func (c credsCLI) usage() {
	fmt.Fprintln(c.stderr, "Usage: cuttle creds <command> [flags]")
	fmt.Fprintln(c.stderr, "\nManage the broker's device, controller and admin credentials and its revoked")
	fmt.Fprintln(c.stderr, "client certificates, stored in NATS KV. Secrets are stored hashed; a generated")
	fmt.Fprintln(c.stderr, "secret is printed once, when it is created. The commands work on NATS KV")
	fmt.Fprintln(c.stderr, "directly (--nats, or a local `cuttle up` with no flags), or through a")
	fmt.Fprintln(c.stderr, "controller's API with an admin token (--server, or CUTTLE_SERVER).\n\nCommands:")
	for _, sub := range credsSubcommands() {
		fmt.Fprintf(c.stderr, "  %-14s %s\n", sub.name, sub.summary)
	}
	fmt.Fprintln(c.stderr, "\nRun `cuttle creds <command> -h` for its flags.")
}

// credsNATS are the flags every sub-command shares.
type credsNATS struct {
	url, user, password string
	bucket, revoked     string
	replicas            int
	// dataDir is where a local `cuttle up` keeps its NATS credentials,
	// used when no NATS user is given.
	dataDir string
	// server and token reach a controller's API instead (credsbackend.go).
	server, token string
	dataSet       bool // --data was given
	fs            *flag.FlagSet
}

// flagSet starts a sub-command's flags with the shared ones.
func (c credsCLI) flagSet(name, args string) (*flag.FlagSet, *credsNATS) {
	fs := flag.NewFlagSet("creds "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: %s\n\nFlags:\n", strings.TrimSpace("cuttle creds "+name+" [flags] "+args))
		fs.PrintDefaults()
	}
	n := &credsNATS{fs: fs}
	fs.StringVar(&n.url, "nats", cmp.Or(c.getenv("CUTTLE_NATS_URL"), "nats://127.0.0.1:4222"), "NATS server URL(s), comma-separated (env CUTTLE_NATS_URL)")
	fs.StringVar(&n.user, "nats-user", c.getenv("CUTTLE_NATS_USER"), "NATS user (env CUTTLE_NATS_USER)")
	fs.StringVar(&n.password, "nats-password", c.getenv("CUTTLE_NATS_PASSWORD"), "NATS password; prefer env CUTTLE_NATS_PASSWORD, flags show in ps")
	fs.StringVar(&n.bucket, "bucket", creds.DefaultBucket, "credentials KV bucket")
	fs.StringVar(&n.revoked, "revoked-bucket", creds.DefaultRevokedBucket, "revoked-certificates KV bucket")
	fs.IntVar(&n.replicas, "replicas", 0, "replicas for buckets this command creates (0: 1, and leave existing buckets alone)")
	fs.StringVar(&n.dataDir, "data", cmp.Or(c.getenv("CUTTLE_DATA"), "./cuttle-data"), "data directory of a local `cuttle up`, whose NATS credentials are used when --nats-user is not given (env CUTTLE_DATA)")
	fs.StringVar(&n.server, "server", "", "`URL` of a controller's API: manage credentials through it, with an admin token, instead of NATS (env CUTTLE_SERVER, used when no NATS setting is given)")
	fs.StringVar(&n.token, "token", "", "admin API `TOKEN` for --server; prefer env CUTTLE_TOKEN, as flags show in ps")
	return fs, n
}

// positional is parseArgs, -h included among the usage errors.
func (c credsCLI) positional(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	pos, err := parseArgs(fs, args, minPos, maxPos)
	if err != nil {
		return nil, errUsage
	}
	return pos, nil
}

// open connects to NATS and opens the store; the returned function closes
// the connection.
func (n *credsNATS) open(ctx context.Context) (*creds.Store, func(), error) {
	if n.user == "" {
		// A local `cuttle up` protects its embedded NATS with credentials in
		// its data directory; use them, so the CLI works with no flags.
		if l, err := readLocalNATS(n.dataDir); err == nil && (l.URL == n.url || n.url == "nats://127.0.0.1:4222") {
			n.url, n.user, n.password = l.URL, l.User, l.Password
		}
	}
	opts := []nats.Option{nats.Name("cuttle creds"), nats.Timeout(credsConnectTimeout), nats.MaxReconnects(0)}
	if n.user != "" {
		opts = append(opts, nats.UserInfo(n.user, n.password))
	}
	where := redactNATSURL(n.url)
	nc, err := nats.Connect(n.url, opts...)
	if err != nil {
		hint := "is it running? set --nats or CUTTLE_NATS_URL"
		if errors.Is(err, nats.ErrAuthorization) {
			hint = "check --nats-user and --nats-password"
		}
		return nil, nil, fmt.Errorf("cannot reach NATS at %s (%s): %w", where, hint, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS JetStream at %s: %w", where, err)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := creds.OpenStore(octx, creds.StoreConfig{
		JetStream:     js,
		Bucket:        n.bucket,
		RevokedBucket: n.revoked,
		Replicas:      n.replicas,
	})
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS at %s: %w", where, err)
	}
	return store, nc.Close, nil
}

// withStore opens the store, runs fn with it and closes it.
func (n *credsNATS) withStore(ctx context.Context, fn func(*creds.Store) error) error {
	store, closeNATS, err := n.open(ctx)
	if err != nil {
		return err
	}
	defer closeNATS()
	return fn(store)
}

// redactNATSURL hides passwords embedded in a (comma-separated) NATS URL.
func redactNATSURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// outputFlag defines -o with the allowed formats, the first being the default.
func outputFlag(fs *flag.FlagSet, formats ...string) *string {
	return fs.String("o", "", "output format: "+strings.Join(formats, ", ")+" (default "+formats[0]+")")
}

func (c credsCLI) checkOutput(fs *flag.FlagSet, o *string, def string, formats ...string) error {
	if *o == "" {
		*o = def
	}
	for _, f := range formats {
		if *o == f {
			return nil
		}
	}
	return usageError(fs, "-o %q: want one of %s", *o, strings.Join(formats, ", "))
}

func (c credsCLI) add(ctx context.Context, args []string) error {
	fs, n := c.flagSet("add", "")
	role := fs.String("role", "", "device, controller or admin (required)")
	endpointID := fs.String("endpoint-id", "", "USP endpoint ID, e.g. os::012345-0001 (required for devices and controllers)")
	username := fs.String("username", "", "username (default: the endpoint ID)")
	passwordStdin := fs.Bool("password-stdin", false, "read a password you chose from stdin instead of generating a token")
	count := fs.Int("count", 0, "create this many credentials, with endpoint IDs <id-prefix>000001 and up")
	prefix := fs.String("id-prefix", "", "endpoint ID prefix for --count, e.g. os::012345-SIM")
	out := outputFlag(fs, "table", "json", "csv")
	if _, err := c.positional(fs, args, 0, 0); err != nil {
		return err
	}
	bulk := *count != 0 || *prefix != ""
	switch {
	case *role == "":
		return usageError(fs, "--role is required")
	case bulk && (*count < 1 || *count > maxBulkCount || *prefix == ""):
		return usageError(fs, "bulk creation needs --count between 1 and %d and --id-prefix", maxBulkCount)
	case bulk && (*endpointID != "" || *username != "" || *passwordStdin):
		return usageError(fs, "--count creates generated tokens for <id-prefix>NNNNNN; it excludes --endpoint-id, --username and --password-stdin")
	}
	def := "table"
	if bulk {
		def = "csv"
	}
	if err := c.checkOutput(fs, out, def, "table", "json", "csv"); err != nil {
		return err
	}
	r, err := creds.ParseRole(*role)
	if err != nil {
		return err
	}
	var password string
	if *passwordStdin {
		if password, err = readPassword(c.stdin); err != nil {
			return err
		}
	}
	return c.withBackend(ctx, n, func(store credsBackend) error {
		w := newSecretWriter(c.stdout, *out)
		defer w.flush()
		if !bulk {
			cred, secret, err := store.add(ctx, creds.AddRequest{Username: *username, Role: r, EndpointID: *endpointID, Secret: password})
			if err != nil {
				return err
			}
			if password != "" {
				secret = "" // the user knows it; do not echo it
			}
			w.write(cred, secret)
			if err := w.flush(); err != nil {
				return err
			}
			if *out == "table" && secret != "" {
				fmt.Fprintln(c.stderr, "The secret is shown only this once: store it now.")
			}
			return nil
		}
		for i := 1; i <= *count; i++ {
			eid := fmt.Sprintf("%s%06d", *prefix, i)
			cred, secret, err := store.add(ctx, creds.AddRequest{Role: r, EndpointID: eid})
			if err != nil {
				_ = w.flush() // keep the secrets already created
				return fmt.Errorf("adding %s (%d of %d created): %w", eid, i-1, *count, err)
			}
			w.write(cred, secret)
		}
		return w.flush()
	})
}

// readPassword reads one line, without its line ending, from r.
func readPassword(r io.Reader) (string, error) {
	buf, err := io.ReadAll(io.LimitReader(r, creds.MaxPasswordLen+3))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
	switch {
	case s == "":
		return "", fmt.Errorf("%w: no password on stdin", creds.ErrInvalid)
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("%w: the password on stdin must be one line", creds.ErrInvalid)
	}
	return s, nil
}

// secretWriter prints created credentials with their secrets: a table for
// people, JSON lines or CSV (endpoint-id,username,secret, the simulator's
// --credentials format) for scripts.
type secretWriter struct {
	format string
	tw     *tabwriter.Writer
	enc    *json.Encoder
	csv    *csv.Writer
	header bool
}

func newSecretWriter(w io.Writer, format string) *secretWriter {
	sw := &secretWriter{format: format}
	switch format {
	case "json":
		sw.enc = json.NewEncoder(w)
	case "csv":
		sw.csv = csv.NewWriter(w)
	default:
		sw.tw = newTable(w)
	}
	return sw
}

func (sw *secretWriter) write(c credView, secret string) {
	switch sw.format {
	case "json":
		_ = sw.enc.Encode(struct {
			Username   string     `json:"username"`
			EndpointID string     `json:"endpoint_id"`
			Role       creds.Role `json:"role"`
			Secret     string     `json:"secret,omitempty"`
		}{c.Username, c.EndpointID, c.Role, secret})
	case "csv":
		_ = sw.csv.Write([]string{c.EndpointID, c.Username, secret})
	default:
		if !sw.header {
			fmt.Fprintln(sw.tw, "USERNAME\tROLE\tENDPOINT ID\tSECRET")
			sw.header = true
		}
		fmt.Fprintf(sw.tw, "%s\t%s\t%s\t%s\n", c.Username, c.Role, c.EndpointID, cmp.Or(secret, "(as chosen)"))
	}
}

func (sw *secretWriter) flush() error {
	switch {
	case sw.csv != nil:
		sw.csv.Flush()
		return sw.csv.Error()
	case sw.tw != nil:
		return sw.tw.Flush()
	}
	return nil
}

// parseList parses the command line of a sub-command that lists: no
// positional arguments, -o table or json.
func (c credsCLI) parseList(name string, args []string) (n *credsNATS, format string, err error) {
	fs, n := c.flagSet(name, "")
	out := outputFlag(fs, "table", "json")
	if _, err := c.positional(fs, args, 0, 0); err != nil {
		return nil, "", err
	}
	if err := c.checkOutput(fs, out, "table", "table", "json"); err != nil {
		return nil, "", err
	}
	return n, *out, nil
}

func (c credsCLI) list(ctx context.Context, args []string) error {
	n, format, err := c.parseList("ls", args)
	if err != nil {
		return err
	}
	var list []credView
	err = c.withBackend(ctx, n, func(store credsBackend) (err error) {
		list, err = store.list(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if format == "json" {
		if list == nil {
			list = []credView{}
		}
		return writeJSON(c.stdout, list)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "USERNAME\tROLE\tENDPOINT ID\tSTATE\tSECRET\tUPDATED")
	for _, cr := range list {
		state := "enabled"
		if cr.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cr.Username, cr.Role, cr.EndpointID, state, cr.SecretKind, cr.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c credsCLI) disable(ctx context.Context, args []string) error {
	return c.forEachUser(ctx, "disable", args, "disabled", func(store credsBackend, u string) error {
		return store.setDisabled(ctx, u, true)
	})
}

func (c credsCLI) enable(ctx context.Context, args []string) error {
	return c.forEachUser(ctx, "enable", args, "enabled", func(store credsBackend, u string) error {
		return store.setDisabled(ctx, u, false)
	})
}

func (c credsCLI) remove(ctx context.Context, args []string) error {
	return c.forEachUser(ctx, "rm", args, "removed", func(store credsBackend, u string) error {
		return store.remove(ctx, u)
	})
}

// forEachUser is the sub-command name, which applies op to each USERNAME
// argument in turn, saying "<done> USERNAME" after each and stopping at the
// first failure.
func (c credsCLI) forEachUser(ctx context.Context, name string, args []string, done string, op func(store credsBackend, username string) error) error {
	fs, n := c.flagSet(name, "USERNAME...")
	users, err := c.positional(fs, args, 1, -1)
	if err != nil {
		return err
	}
	return c.withBackend(ctx, n, func(store credsBackend) error {
		for _, u := range users {
			if err := op(store, u); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s %s\n", done, u)
		}
		return nil
	})
}

func (c credsCLI) rotate(ctx context.Context, args []string) error {
	fs, n := c.flagSet("rotate", "USERNAME")
	out := outputFlag(fs, "table", "json", "csv")
	pos, err := c.positional(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if err := c.checkOutput(fs, out, "table", "table", "json", "csv"); err != nil {
		return err
	}
	return c.withBackend(ctx, n, func(store credsBackend) error {
		cred, secret, err := store.rotate(ctx, pos[0])
		if err != nil {
			return err
		}
		w := newSecretWriter(c.stdout, *out)
		w.write(cred, secret)
		return w.flush()
	})
}

func (c credsCLI) revokeCert(ctx context.Context, args []string) error {
	fs, n := c.flagSet("revoke-cert", "serial:HEX|sha256:HEX")
	reason := fs.String("reason", "", "why, for the record")
	return c.changeCert(ctx, fs, n, args, "revoked", func(store credsBackend, spec string) error {
		return store.revokeCert(ctx, spec, *reason)
	})
}

func (c credsCLI) unrevokeCert(ctx context.Context, args []string) error {
	fs, n := c.flagSet("unrevoke-cert", "serial:HEX|sha256:HEX")
	return c.changeCert(ctx, fs, n, args, "unrevoked", func(store credsBackend, spec string) error {
		return store.unrevokeCert(ctx, spec)
	})
}

// changeCert applies op to the certificate its one argument names, then
// says "<done> SPEC" with the spec in its canonical form.
func (c credsCLI) changeCert(ctx context.Context, fs *flag.FlagSet, n *credsNATS, args []string, done string, op func(store credsBackend, spec string) error) error {
	pos, err := c.positional(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return c.withBackend(ctx, n, func(store credsBackend) error {
		if err := op(store, pos[0]); err != nil {
			return err
		}
		spec, _ := creds.ParseCertSpec(pos[0]) // valid: op accepted it
		fmt.Fprintf(c.stdout, "%s %s\n", done, spec)
		return nil
	})
}

func (c credsCLI) listRevoked(ctx context.Context, args []string) error {
	n, format, err := c.parseList("revoked", args)
	if err != nil {
		return err
	}
	var list []creds.Revocation
	err = c.withBackend(ctx, n, func(store credsBackend) (err error) {
		list, err = store.listRevoked(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c.stdout, list)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "SPEC\tREASON\tREVOKED")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Spec, r.Reason, r.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}
