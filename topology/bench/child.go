package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a kaudit process the harness started: the broker or a
// pipeline. Its output goes to a log file in the work dir.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, once done
}

// startChild starts bin with args. Children run in their own process
// group, so a Ctrl-C at the terminal reaches only the harness, which stops
// them in order (pipeline before broker); Pdeathsig kills them should the
// harness itself be killed. KAUDIT_* variables of the caller's environment
// are not passed on: the harness sets everything it means on the command
// line, and e.g. a KAUDIT_HTTP_TOKEN would lock it out of /metrics.
func startChild(name, bin, logPath string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAUDIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to shut down (SIGTERM), and kills it if it has not
// within grace. It is safe to call more than once.
func (c *child) stop(grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited meanwhile
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill() //nolint:errcheck // likewise
		<-c.done
	}
}

// failure describes an exited child for an error message: its exit status
// and the end of its log.
func (c *child) failure() error {
	return fmt.Errorf("%s exited (%v); last log lines:\n%s", c.name, c.err, c.logTail(15))
}

// logTail returns the last n lines of the child's log.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startBroker starts `kaudit broker` and waits until it accepts
// connections.
func startBroker(ctx context.Context, bin, dir string) (*child, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	c, err := startChild("broker", bin, filepath.Join(dir, "broker.log"), "broker", "--listen", addr, "--data-dir", data, "--log-level", "warn")
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return c, addr, nil
		}
		if c.exited() {
			return nil, "", c.failure()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.stop(5 * time.Second)
			return nil, "", fmt.Errorf("broker on %s not listening after 30s: %w", addr, errors.Join(err, ctx.Err()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pipeline is a running `kaudit run` and its HTTP address.
type pipeline struct {
	*child
	http   string
	client *http.Client
}

// startPipeline starts `kaudit run` against brokers with state in
// stateDir, and the extra flags.
func startPipeline(bin, name, logPath, brokers, stateDir string, extra ...string) (*pipeline, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "--brokers", brokers, "--state-dir", stateDir, "--http", addr, "--log-level", "warn"}, extra...)
	c, err := startChild(name, bin, logPath, args...)
	if err != nil {
		return nil, err
	}
	return &pipeline{child: c, http: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}, nil
}

// ready reports whether /readyz answers 200.
func (p *pipeline) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.http+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	return resp.StatusCode == http.StatusOK
}

// waitReady polls /readyz every 25ms until it answers 200, and returns the
// time from the process's start. It fails if the process exits or timeout
// passes.
func (p *pipeline) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if p.ready(ctx) {
			return time.Since(p.started), nil
		}
		if p.exited() {
			return 0, p.failure()
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready after %s", p.name, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Metric names the harness reads from kaudit's /metrics.
const (
	mLinesIn    = "kaudit_lines_in_total"
	mKept       = "kaudit_kept_total"
	mSuppressed = "kaudit_suppressed_total"
	mBatched    = "kaudit_batched_total"
	mApplied    = "kaudit_batched_applied_total"
	mDropped    = "kaudit_batched_dropped_total"
	mAudited    = "kaudit_audit_requests_total"
	mRecordsOut = "kaudit_records_out_total"
	mDeadLetter = "kaudit_dead_letter_total"
	mRestarts   = "kaudit_restarts_total"
	mNotAudited = "kaudit_not_audited_total"
	mParsed     = mLinesIn + `{outcome="parsed"}`
)

// counters is one scrape of kaudit's counters, each summed over labels.
type counters struct {
	LinesIn, Kept, Suppressed, Batched, Audited, RecordsOut, DeadLetter, Restarts int64
	// Applied of the batched requests have reached the table; Dropped
	// reached it and were dropped, their connection unknown there.
	Applied, Dropped int64
	// Parsed lines are settled once kept, suppressed or not audited.
	Parsed, NotAudited int64
}

// caughtUp reports whether kaudit has read n lines, settled every one it
// parsed (lines on the rekeyed stream are neither yet), and every kept
// request is audited.
func (c counters) caughtUp(n int64) bool {
	return c.LinesIn >= n && c.Kept+c.Suppressed+c.NotAudited >= c.Parsed && c.Audited >= c.Kept
}

// settled reports whether, on top of caughtUp, the table owners have
// applied every batched request: the work that batching defers (up to
// dedup.batch_age) is done.
func (c counters) settled(n int64) bool {
	return c.caughtUp(n) && c.Applied+c.Dropped >= c.Batched
}

// scrape reads the counters from /metrics.
func (p *pipeline) scrape(ctx context.Context) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.http+"/metrics", nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return counters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return readCounters(resp.Body)
}

// readCounters reads the counters from a Prometheus text exposition.
func readCounters(r io.Reader) (counters, error) {
	m, err := ParseMetrics(r, mLinesIn, mKept, mSuppressed, mBatched, mApplied, mDropped, mAudited, mRecordsOut, mDeadLetter, mRestarts, mNotAudited)
	if err != nil {
		return counters{}, err
	}
	return counters{
		LinesIn: int64(m[mLinesIn]), Kept: int64(m[mKept]), Suppressed: int64(m[mSuppressed]), Batched: int64(m[mBatched]), Applied: int64(m[mApplied]),
		Dropped: int64(m[mDropped]),
		Audited: int64(m[mAudited]), RecordsOut: int64(m[mRecordsOut]), DeadLetter: int64(m[mDeadLetter]),
		Restarts: int64(m[mRestarts]), Parsed: int64(m[mParsed]), NotAudited: int64(m[mNotAudited]),
	}, nil
}

// usage reads the pipeline's CPU time and memory.
func (p *pipeline) usage() (ProcUsage, error) { return ReadProc(p.pid()) }

// describe names the process for logs: name and pid.
func (c *child) describe() string { return c.name + " (pid " + strconv.Itoa(c.pid()) + ")" }
