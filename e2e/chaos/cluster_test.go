package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildKaudit builds the kaudit binary into dir once per test.
func buildKaudit(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kaudit")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "github.com/kaudit/kaudit/cmd/kaudit")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build kaudit: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// proc is one OS process of the test: the broker or a kaudit instance. It
// is restarted with the same arguments; each start logs to its own file.
type proc struct {
	name string
	bin  string
	args []string
	dir  string // log files go here

	mu      sync.Mutex
	cmd     *exec.Cmd
	starts  int
	exited  chan struct{} // closed when the current process exits
	err     error         // its exit status
	stopped bool          // the test stopped it on purpose
	logPath string
}

// start starts the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	p.logPath = p.logFile(p.starts)
	logf, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "KAUDIT_LOG_LEVEL="+logLevel())
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.stopped = cmd, false
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// logFile is the log of the process's nth start.
func (p *proc) logFile(n int) string {
	return filepath.Join(p.dir, fmt.Sprintf("%s.%d.log", p.name, n))
}

// done is closed when the current process exits.
func (p *proc) done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// signal sends sig to the running process and waits for it to exit.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %w", p.name, sig, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit within %s of %v", p.name, wait, sig)
	}
}

// stopOnPurpose reports whether the last exit was the test's doing.
func (p *proc) stopOnPurpose() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// exitErr is the last exit status.
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// logTail returns the last n lines of the current start's log.
func (p *proc) logTail(n int) string {
	p.mu.Lock()
	path := p.logPath
	p.mu.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// kill stops the process with SIGKILL if it still runs; for cleanup.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-exited
}

// waitTCP waits until addr accepts connections.
func waitTCP(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready reports whether a kaudit instance answers /readyz with 200.
func ready(ctx context.Context, httpAddr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady waits until a kaudit instance answers /readyz with 200.
func waitReady(ctx context.Context, httpAddr string, exited <-chan struct{}) error {
	for !ready(ctx, httpAddr) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", httpAddr, ctx.Err())
		case <-exited:
			return fmt.Errorf("%s: process exited before ready", httpAddr)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// logLevel is the processes' log level: KAUDIT_CHAOS_LOG_LEVEL, else info.
func logLevel() string {
	if l := os.Getenv("KAUDIT_CHAOS_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}
