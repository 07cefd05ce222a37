package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The API commands (device, job, events, token) and completion share the
// machinery in this file: a command table, flags that may come anywhere
// among the arguments, the connection to the API, output formats and exit
// statuses.

// defaultServer is where `cuttle up` serves the API by default
// (--http-addr :8080).
const defaultServer = "http://127.0.0.1:8080"

// Exit statuses of the API commands. main exits 2 for errUsage and 1 for
// other errors; the others are set by exitWith.
const (
	exitOK           = 0
	exitFailure      = 1 // the operation failed: unreachable device or API, USP error, failed paths, 5xx
	exitUsage        = 2 // bad command line, or a request the API rejected as invalid
	exitNotFound     = 3 // no such device, job or token
	exitUnauthorized = 4 // no token, a bad one, or one without the permission
)

const exitStatusHelp = `Exit status:
  0  success
  1  the operation failed: the API or the device could not be reached or
     timed out, the device answered with a USP error, a path, parameter,
     command or device of a job failed (what succeeded is still printed),
     or the server failed
  2  usage error: a bad command line, or a request the API rejected as
     invalid (a malformed path, say)
  3  not found: no such device, job or token
  4  unauthorized or forbidden: no token, a bad or revoked one, or one
     whose role does not allow the command`

const connectionHelp = `Connection (flags of every command):
  --server URL  the API (env CUTTLE_SERVER; default: the address a local
                ` + "`cuttle up`" + ` wrote in <data>/api.json, else ` + defaultServer + `)
  --token T     API token (env CUTTLE_TOKEN, safer than the flag; default: the
                admin token a local ` + "`cuttle up`" + ` keeps in <data>/admin.token,
                read when the server is on this machine or --data is given)
  --data DIR    data directory of the local ` + "`cuttle up`" + ` (env CUTTLE_DATA;
                default ./cuttle-data)
  -o FORMAT     table (default) for people; json or yaml for scripts`

// apiCLI runs the API commands; it holds their I/O so that tests run them
// in-process.
type apiCLI struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// http sends the requests; nil means newHTTPClient().
	http *http.Client
	// pageSize is the largest page of a list requested; 0 means the
	// API's maximum. Tests lower it to see cursors followed.
	pageSize int
	// introspect makes parse record the command's flag set in flags and
	// stop before doing anything: completion learns each command's flags
	// from the code that defines them.
	introspect bool
	flags      *flag.FlagSet
}

// cliCommand is an entry of the API commands' table: a command, or a group
// of sub-commands (subs set, run nil).
type cliCommand struct {
	name, summary string
	run           func(c *apiCLI, ctx context.Context, args []string) error
	subs          []cliCommand
}

// apiCommands is the table of the commands in this file's family; main's
// commands() lists their entry points.
func apiCommands() []cliCommand {
	return []cliCommand{
		{name: "device", summary: "list, query, label and operate devices", subs: deviceCommands()},
		{name: "job", summary: "run one USP operation over many devices", subs: jobCommands()},
		{name: "events", summary: "query the device event log, or follow new events", run: (*apiCLI).events},
		{name: "token", summary: "manage API tokens", subs: tokenCommands()},
		{name: "completion", summary: "print a shell completion script", run: (*apiCLI).completion},
	}
}

func runDevice(ctx context.Context, args []string, stdout io.Writer) error {
	return runAPICommand(ctx, "device", args, stdout)
}

func runJob(ctx context.Context, args []string, stdout io.Writer) error {
	return runAPICommand(ctx, "job", args, stdout)
}

func runEvents(ctx context.Context, args []string, stdout io.Writer) error {
	return runAPICommand(ctx, "events", args, stdout)
}

func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	return runAPICommand(ctx, "token", args, stdout)
}

func runCompletion(ctx context.Context, args []string, stdout io.Writer) error {
	return runAPICommand(ctx, "completion", args, stdout)
}

func runAPICommand(ctx context.Context, name string, args []string, stdout io.Writer) error {
	c := &apiCLI{stdout: stdout, stderr: os.Stderr, getenv: os.Getenv}
	return exitWith(c.dispatch(ctx, name, args), os.Stderr, os.Exit)
}

// exitWith ends the process for the exit statuses main does not know (3
// and 4), after printing the error as main would; it returns the rest.
func exitWith(err error, stderr io.Writer, exit func(int)) error {
	if code := exitCode(err); code > exitUsage {
		fmt.Fprintln(stderr, "cuttle:", err)
		exit(code)
	}
	return err
}

// exitCode is the exit status err calls for (see exitStatusHelp).
func exitCode(err error) int {
	var apiErr *apiError
	var noTok *noTokenError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &noTok):
		return exitUnauthorized
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusNotFound:
			return exitNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitUnauthorized
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			return exitUsage
		}
	}
	return exitFailure
}

func (c *apiCLI) dispatch(ctx context.Context, name string, args []string) error {
	for _, cmd := range apiCommands() {
		if cmd.name != name {
			continue
		}
		if cmd.subs == nil {
			return cmd.run(c, ctx, args)
		}
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			c.groupUsage(cmd)
			if len(args) == 0 {
				return errUsage
			}
			return nil
		}
		for _, sub := range cmd.subs {
			if sub.name == args[0] {
				return sub.run(c, ctx, args[1:])
			}
		}
		fmt.Fprintf(c.stderr, "cuttle %s: unknown command %q\n\n", name, args[0])
		c.groupUsage(cmd)
		return errUsage
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, name)
}

func (c *apiCLI) groupUsage(cmd cliCommand) {
	fmt.Fprintf(c.stderr, "Usage: cuttle %s <command> [flags]\n\n", cmd.name)
	fmt.Fprintf(c.stderr, "%s%s, through the controller's REST API.\n\nCommands:\n",
		strings.ToUpper(cmd.summary[:1]), cmd.summary[1:])
	for _, sub := range cmd.subs {
		fmt.Fprintf(c.stderr, "  %-13s %s\n", sub.name, sub.summary)
	}
	fmt.Fprintf(c.stderr, "\nRun `cuttle %s <command> -h` for its arguments and flags.\n\n%s\n\n%s\n", cmd.name, connectionHelp, exitStatusHelp)
}

// maxPage is the page size of lists fetched whole.
func (c *apiCLI) maxPage() int {
	if c.pageSize > 0 {
		return c.pageSize
	}
	return maxPageSize
}

// pagedList is what fetchPages read of a cursor-paged list.
type pagedList struct {
	items []json.RawMessage
	// more says whether items were left unread; total is the list's
	// "total" as the last page gave it (0 for lists without one).
	more  bool
	total int
}

// fetchPages reads up to limit items (all: every one) of a cursor-paged
// list whose items are under key.
func (c *apiCLI) fetchPages(ctx context.Context, api *apiClient, path string, q url.Values, key string, limit int, all bool) (pagedList, error) {
	q = cloneValues(q)
	var l pagedList
	for {
		size := c.maxPage()
		if !all {
			size = min(size, limit-len(l.items))
		}
		q.Set("limit", strconv.Itoa(size))
		var page struct {
			Next  string `json:"next"`
			Total int    `json:"total"`
		}
		raw, err := api.doJSON(ctx, http.MethodGet, path, q, nil, &page)
		if err != nil {
			return pagedList{}, err
		}
		var fields map[string]json.RawMessage
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return pagedList{}, fmt.Errorf("GET %s: %w", path, err)
		}
		if err := json.Unmarshal(fields[key], &list); err != nil {
			return pagedList{}, fmt.Errorf("GET %s: %s: %w", path, key, err)
		}
		l.items, l.total = append(l.items, list...), page.Total
		if page.Next == "" {
			return l, nil
		}
		if !all && len(l.items) >= limit {
			l.more = true
			return l, nil
		}
		q.Set("cursor", page.Next)
	}
}

// forEachID calls fn with each ID in turn and stops at the first failure,
// which names the ID when there are several.
func forEachID(ids []string, fn func(id string) error) error {
	for _, id := range ids {
		if err := fn(id); err != nil {
			if len(ids) > 1 {
				return fmt.Errorf("%s: %w", id, err)
			}
			return err
		}
	}
	return nil
}

// connFlags are the connection flags every API command has.
type connFlags struct {
	server, token, data string
}

// flagSet starts a command's flags with the connection flags; name is the
// command's full name ("device get"), args its positional arguments.
func (c *apiCLI) flagSet(name, args, summary string) (*flag.FlagSet, *connFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: %s\n\n%s\n\nFlags:\n", strings.TrimSpace("cuttle "+name+" [flags] "+args), summary)
		fs.PrintDefaults()
		fmt.Fprintf(c.stderr, "\n%s\n", exitStatusHelp)
	}
	cf := &connFlags{}
	fs.StringVar(&cf.server, "server", "", "`URL` of the API (env CUTTLE_SERVER; default: a local 'cuttle up' from <data>/api.json, else "+defaultServer+")")
	fs.StringVar(&cf.token, "token", "", "API `TOKEN`; prefer env CUTTLE_TOKEN, as flags show in ps (default: <data>/admin.token for a server on this machine)")
	fs.StringVar(&cf.data, "data", "", "data `DIR` of a local 'cuttle up', holding admin.token and api.json (env CUTTLE_DATA; default ./cuttle-data)")
	return fs, cf
}

// errIntrospected stops a command whose flags completion asked for.
var errIntrospected = errors.New("flags introspected")

// parse is parseArgs, except that it only records the flag set when
// completion asks for it.
func (c *apiCLI) parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	if c.introspect {
		c.flags = fs
		return nil, errIntrospected
	}
	return parseArgs(fs, args, minPos, maxPos)
}

// helpOK turns the -h request into success, as the usage is printed.
func helpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// noTokenError is the lack of any token to send; exit status 4.
type noTokenError struct{ tokenFile string }

func (e *noTokenError) Error() string {
	return "no API token: pass --token or set CUTTLE_TOKEN (the admin token of a local `cuttle up` is in " +
		e.tokenFile + "; run from the directory holding it, or pass --data)"
}

// client resolves the connection flags: the server from --server,
// CUTTLE_SERVER, the api.json a local `cuttle up` wrote in the data
// directory, or the default; the token from --token, CUTTLE_TOKEN or
// the data directory's admin.token. The token file is only read for a
// server on this machine, or when the data directory is named, so that a
// local admin token is never sent to a remote server by accident.
func (c *apiCLI) client(cf *connFlags) (*apiClient, error) {
	token := cmp.Or(cf.token, c.getenv("CUTTLE_TOKEN"))
	dataDir := cmp.Or(cf.data, c.getenv("CUTTLE_DATA"))
	explicitData := dataDir != ""
	dataDir = cmp.Or(dataDir, "./cuttle-data")
	tokenFile := filepath.Join(dataDir, "admin.token")
	base, err := normalizeServer(cmp.Or(cf.server, c.getenv("CUTTLE_SERVER"), readLocalAPI(dataDir), defaultServer))
	if err != nil {
		return nil, fmt.Errorf("%w: --server: %v", errUsage, err)
	}
	if token == "" && (explicitData || isLoopbackURL(base)) {
		b, err := os.ReadFile(tokenFile)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("reading the API token: %w", err)
		}
	}
	if token == "" {
		return nil, &noTokenError{tokenFile: tokenFile}
	}
	hc := c.http
	if hc == nil {
		hc = newHTTPClient()
	}
	return &apiClient{base: base, token: token, http: hc}, nil
}

// normalizeServer accepts "host:port", a URL, or the API's URL as `cuttle
// up` prints it (…/api/v1), and returns the root URL.
func normalizeServer(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: want http(s)://host[:port]", s)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v1")
	u.RawPath = ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

func isLoopbackURL(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// output formats.
const (
	fmtTable = "table"
	fmtJSON  = "json"
	fmtYAML  = "yaml"
	fmtID    = "id" // one ID per line, for lists piped to other commands
)

// outputFlag defines -o; formats[0] is the default.
func (c *apiCLI) outputFlag(fs *flag.FlagSet, formats ...string) *string {
	return fs.String("o", formats[0], "output format: "+strings.Join(formats, ", "))
}

// checkOutput reports an -o value outside formats as a usage error.
func (c *apiCLI) checkOutput(fs *flag.FlagSet, o string, formats ...string) error {
	for _, f := range formats {
		if o == f {
			return nil
		}
	}
	return usageError(fs, "-o %q: want one of %s", o, strings.Join(formats, ", "))
}

// flagSetWithOutput is a command's flag set with its -o flag and the
// formats -o allows.
type flagSetWithOutput struct {
	*flag.FlagSet
	out     *string
	formats []string
}

// outputFlagSet is flagSet with -o taking formats, formats[0] the default.
func (c *apiCLI) outputFlagSet(name, args, summary string, formats ...string) (*flagSetWithOutput, *connFlags) {
	fs, cf := c.flagSet(name, args, summary)
	return &flagSetWithOutput{FlagSet: fs, out: c.outputFlag(fs, formats...), formats: formats}, cf
}

// parseOutput is parse, then checkOutput with the flag set's formats.
func (c *apiCLI) parseOutput(fs *flagSetWithOutput, args []string, minPos, maxPos int) ([]string, error) {
	pos, err := c.parse(fs.FlagSet, args, minPos, maxPos)
	if err != nil {
		return nil, err
	}
	if err := c.checkOutput(fs.FlagSet, *fs.out, fs.formats...); err != nil {
		return nil, err
	}
	return pos, nil
}

// warn prints a failure that does not stop the command.
func (c *apiCLI) warn(format string, v ...any) {
	fmt.Fprintf(c.stderr, "cuttle: "+format+"\n", v...)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}
