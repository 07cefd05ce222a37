package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memResult is the idle-connection memory of one broker.
type memResult struct {
	broker string
	idle   int
	// before: serving, nobody connected; during: idle devices connected;
	// after: they have all disconnected (after a GC); freed: after that,
	// with free pages returned to the OS (debug.FreeOSMemory).
	before, during, after, freed memSample
	// later: 30 s after they disconnected, before FreeOSMemory (what the
	// runtime returns to the OS on its own).
	later memSample
	// idleCPU is the CPU the broker process used per second of wall time
	// while the idle devices were connected (keep alive 600 s, so almost
	// none of it is theirs): its own housekeeping.
	idleCPU time.Duration
	err     error
}

func perConn(from, to uint64, n int) int64 { return (int64(to) - int64(from)) / int64(n) }

// child is a running child process of this binary that speaks the line
// protocol of child.go.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{} // closed when the process has exited
	err   error         // its exit status, once done is closed
}

func startChild(name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody is listening any more: drop it
			}
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// expect returns the next line, which must start with prefix.
func (c *child) expect(prefix string, timeout time.Duration) (string, error) {
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.done
			return "", fmt.Errorf("%s exited: %v", c.name, c.err)
		}
		if !strings.HasPrefix(line, prefix) {
			return "", fmt.Errorf("%s said %q, want %q", c.name, line, prefix)
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("%s: no %q within %v", c.name, prefix, timeout)
	}
}

func (c *child) send(cmd string) error {
	_, err := io.WriteString(c.stdin, cmd+"\n")
	return err
}

// mem asks a broker child for a memory sample ("mem" or "free").
func (c *child) mem(cmd string) (memSample, error) {
	if err := c.send(cmd); err != nil {
		return memSample{}, err
	}
	line, err := c.expect("mem ", 30*time.Second)
	if err != nil {
		return memSample{}, err
	}
	return parseMemSample(line)
}

// stop closes the child's stdin, which ends it, and kills it if it is still
// running after timeout.
func (c *child) stop(timeout time.Duration) error {
	_ = c.stdin.Close()
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not exit within %v and was killed", c.name, timeout)
	}
}

// memoryTest measures one broker kind ("cuttle" or "mochi") with idle
// devices whose credentials are in secretsPath. With memProfile set, the
// broker writes its heap profile, while the devices are connected, to
// memProfile.<kind>.
func memoryTest(kind, natsURL, secretsPath string, idle int, lim limits, memProfile string, verbose bool, log *slog.Logger) memResult {
	res := memResult{broker: kind, idle: idle}
	fail := func(err error) memResult { res.err = fmt.Errorf("idle memory, %s: %w", kind, err); return res }
	args := []string{"-serve", kind, "-nats", natsURL, "-idle", strconv.Itoa(idle)}
	if kind == "cuttle" {
		args = append(args, lim.args()...)
	}
	if verbose {
		args = append(args, "-v")
	}
	srv, err := startChild(kind+" broker", args...)
	if err != nil {
		return fail(err)
	}
	defer func() {
		_ = srv.send("quit")
		if err := srv.stop(30 * time.Second); err != nil && res.err == nil {
			res.err = fmt.Errorf("idle memory, %s: stopping the broker: %w", kind, err)
		}
	}()
	line, err := srv.expect("ready ", 60*time.Second)
	if err != nil {
		return fail(err)
	}
	addr := strings.TrimPrefix(line, "ready ")
	time.Sleep(500 * time.Millisecond) // let the broker's start-up garbage settle
	if res.before, err = srv.mem("mem"); err != nil {
		return fail(err)
	}

	started := time.Now()
	cl, err := startChild("idle clients", "-client-only", "-addr", addr, "-secrets", secretsPath)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = cl.stop(30 * time.Second) }()
	if _, err := cl.expect("connected ", 4*time.Minute); err != nil {
		return fail(err)
	}
	log.Info("idle devices connected", "broker", kind, "devices", idle, "took", time.Since(started).Round(time.Millisecond))
	time.Sleep(time.Second)
	if res.during, err = srv.mem("mem"); err != nil {
		return fail(err)
	}
	if res.during.clients != int64(idle) {
		return fail(fmt.Errorf("the broker counts %d connected clients, want %d", res.during.clients, idle))
	}
	const idleWindow = 5 * time.Second
	cpu0 := procCPU(srv.cmd.Process.Pid)
	time.Sleep(idleWindow)
	res.idleCPU = (procCPU(srv.cmd.Process.Pid) - cpu0) * time.Second / idleWindow
	if memProfile != "" {
		path := memProfile + "." + kind
		if err := srv.send("heapprofile " + path); err != nil {
			return fail(err)
		}
		if _, err := srv.expect("heapprofile written", 30*time.Second); err != nil {
			return fail(err)
		}
		log.Info("heap profile written", "broker", kind, "file", path)
	}

	if err := cl.send("disconnect"); err != nil {
		return fail(err)
	}
	if _, err := cl.expect("disconnected", time.Minute); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := srv.mem("mem")
		if err != nil {
			return fail(err)
		}
		if m.clients == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%d clients still connected 20s after the devices disconnected", m.clients))
		}
		time.Sleep(200 * time.Millisecond)
	}
	left := time.Now()
	time.Sleep(time.Second)
	if res.after, err = srv.mem("mem"); err != nil {
		return fail(err)
	}
	time.Sleep(time.Until(left.Add(30 * time.Second)))
	if res.later, err = srv.mem("mem"); err != nil {
		return fail(err)
	}
	if res.freed, err = srv.mem("free"); err != nil {
		return fail(err)
	}
	return res
}

// secretsFile writes the idle fleet's credentials to a private temporary
// directory and returns the file and a function removing it.
func secretsFile(ids []identity) (string, func(), error) {
	dir, err := os.MkdirTemp("", "brokerbench-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "secrets")
	if err := writeSecrets(path, ids); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, errors.Join(errors.New("writing idle device secrets"), err)
	}
	return path, func() { _ = os.RemoveAll(dir) }, nil
}
