package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Topics and groups of the harness. kaudit reads the raw topic under its
// default name and writes its default audit topic; the baseline copies the
// raw topic under its own group, so both read the same data.
const (
	rawTopic   = "kafka-request-log"
	auditTopic = "confluent-audit-log-events"
	// kaudit's rekeyed topic, read with Options.Hops.
	rekeyedTopic  = "kaudit-rekeyed"
	copyTopic     = "bench-baseline-copy"
	baselineGroup = "bench-baseline"
	gokaTopic     = "bench-goka-copy"
	partitions    = 8
)

// Options configure a run. Zero values take the defaults in brackets.
type Options struct {
	// Binary is the kaudit binary started as broker and pipeline [this
	// process's executable].
	Binary string
	// Lines of the throughput workload [1,000,000].
	Lines int64
	// Connections the workload's Produce/Fetch lines are spread over
	// [200,000].
	Connections int
	// TableConnections is the size of the table phase [1,000,000].
	TableConnections int64
	// LatencyFor is how long the latency phase offers load [40s].
	LatencyFor time.Duration
	// LatencyRate fixes the lines/s the latency phase offers [half of
	// kaudit's steady rate, the figure]. A fixed rate compares
	// builds whose throughput differs at the same load.
	LatencyRate float64
	// Hops splits the latency at kaudit's internal topics. The harness
	// then reads those too, which costs the broker and it some CPU, so it
	// is off by default and the headline figures compare with earlier runs.
	Hops bool
	// Seed of the workload [1].
	Seed uint64
	// WorkDir is where the run's temporary dir goes [os.TempDir()].
	WorkDir string
	// Keep keeps the temporary dir (logs, broker data, state) afterwards.
	Keep bool
	// CleanerBackoff is the broker's log.cleaner.backoff.ms [1h: no
	// compaction during the run; see setCleanerBackoff]. The embedded
	// broker's own default, 1s, suits demos, not measurements.
	CleanerBackoff time.Duration
	// Budget bounds the whole run [19m; negative: no bound]: each phase
	// gets at most a share of what is left (see allot), so a slow kaudit
	// yields partial figures, with notes, rather than a run that never
	// ends.
	Budget time.Duration
	// PhaseTimeout bounds each waiting phase; a phase that runs out is
	// reported with what it measured, and the run goes on [8m].
	PhaseTimeout time.Duration
	// ProfileDir, if set, gets Go profiles of kaudit, which then serves
	// them (--pprof): throughput.cpu.pprof, the throughput run's first 30 s;
	// latency.cpu.pprof, the whole latency phase; latency.trace, an
	// execution trace of 5 s from the middle of that phase. Off by default:
	// the figures of such a run carry the profilers' cost.
	ProfileDir string
	// Log gets progress, one line per step [discarded].
	Log *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the kaudit binary: %w", err)
		}
		o.Binary = exe
	}
	if o.Lines == 0 {
		o.Lines = 1_000_000
	}
	if o.Connections == 0 {
		o.Connections = 200_000
	}
	if o.TableConnections == 0 {
		o.TableConnections = 1_000_000
	}
	if o.LatencyFor == 0 {
		o.LatencyFor = 40 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.CleanerBackoff == 0 {
		o.CleanerBackoff = time.Hour
	}
	if o.Budget == 0 {
		o.Budget = 19 * time.Minute
	}
	if o.PhaseTimeout == 0 {
		o.PhaseTimeout = 8 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Validate names every bad option.
func (o *Options) Validate() error {
	var errs []error
	if o.Lines < 1000 {
		errs = append(errs, fmt.Errorf("lines: at least 1000, got %d", o.Lines))
	}
	if o.Connections < 1 {
		errs = append(errs, fmt.Errorf("connections: at least 1, got %d", o.Connections))
	}
	if o.TableConnections < 1000 {
		errs = append(errs, fmt.Errorf("table connections: at least 1000, got %d", o.TableConnections))
	}
	if o.LatencyRate < 0 {
		errs = append(errs, fmt.Errorf("latency rate: at least 0 (0: half of kaudit's rate), got %g", o.LatencyRate))
	}
	if o.LatencyFor < time.Second {
		errs = append(errs, fmt.Errorf("latency duration: at least 1s, got %s", o.LatencyFor))
	}
	if st, err := os.Stat(o.Binary); err != nil || st.IsDir() {
		errs = append(errs, fmt.Errorf("binary %q: not a file", o.Binary))
	}
	return errors.Join(errs...)
}

// run is one benchmark run's state.
type run struct {
	o    Options
	log  *slog.Logger
	dir  string
	res  *Results
	kids []*child // everything started, stopped in reverse at the end
	// broker is the running broker, whose CPU time the phases read.
	broker *child
	// deadline ends the run's budget; zero for none.
	deadline time.Time
}

// allot is the time a waiting phase may take: share of what is left of
// the budget, at most limit, at least 15s.
func (r *run) allot(share float64, limit time.Duration) time.Duration {
	if r.deadline.IsZero() {
		return limit
	}
	d := time.Duration(share * float64(time.Until(r.deadline)))
	return max(min(d, limit), 15*time.Second)
}

// Run runs every phase and returns the figures. A phase that fails or
// times out leaves its figures at 0 with a note; Run then returns them
// together with the error. It stops every process it started and removes
// its temporary dir (unless Keep) before returning, also when ctx is
// cancelled.
func Run(ctx context.Context, o Options) (*Results, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.WorkDir, "kaudit-bench-")
	if err != nil {
		return nil, err
	}
	r := &run{o: o, log: o.Log, dir: dir, res: &Results{StartedAt: time.Now().UTC(), Machine: ReadMachine(), CleanerBackoffMs: o.CleanerBackoff.Milliseconds()}}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
		r.res.note("kaudit was profiled (--profile-dir %s): its figures carry the profilers' cost", o.ProfileDir)
	}
	defer func() {
		r.stopAll()
		if o.Keep {
			r.log.Info("kept the work dir", "dir", dir)
		} else if err := os.RemoveAll(dir); err != nil {
			r.log.Warn("could not remove the work dir", "dir", dir, "err", err)
		}
	}()
	if o.Budget > 0 {
		r.deadline = time.Now().Add(o.Budget)
	}
	r.log.Info("work dir", "dir", dir, "binary", o.Binary, "budget", o.Budget)
	err = r.phases(ctx)
	r.res.Seconds = time.Since(r.res.StartedAt).Seconds()
	return r.res, err
}

func (r *run) track(c *child) { r.kids = append(r.kids, c) }

// shared notes when other processes on the machine used a noticeable
// share of it during a phase: that phase's figures are then low.
func (r *run) shared(phase string, others float64) {
	if others >= 0.2 {
		r.res.note("the machine was shared: other processes used %.2f cores during %s", others, phase)
		r.log.Warn("other processes are using the machine", "phase", phase, "cores", round1(others))
	}
}

// stopAll stops every child still running, the latest first (pipelines
// before their broker).
func (r *run) stopAll() {
	for i := len(r.kids) - 1; i >= 0; i-- {
		r.kids[i].stop(30 * time.Second)
	}
	r.kids = nil
}

func (r *run) phases(ctx context.Context) error {
	// Part 1: one broker, one workload, the baseline and kaudit on it.
	broker, addr, err := startBroker(ctx, r.o.Binary, filepath.Join(r.dir, "broker1"))
	if err != nil {
		return err
	}
	r.track(broker)
	r.broker = broker
	r.log.Info("broker started", "addr", addr, "pid", broker.pid())

	gen := NewGenerator(Workload{Connections: r.o.Connections, Seed: r.o.Seed, Partitions: partitions})
	if err := r.preload(ctx, addr, gen); err != nil {
		return err
	}
	if err := r.baseline(ctx, addr); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.res.note("baseline: %v", err)
		r.log.Warn("baseline failed", "err", err)
	}
	if err := r.goka(ctx, addr); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.res.note("goka yardsticks: %v", err)
		r.log.Warn("goka yardstick failed", "err", err)
	}
	p, err := r.throughput(ctx, addr)
	if err != nil {
		return err
	}
	if behind := r.o.Lines - r.res.KauditCounts.LinesIn; behind > 0 {
		// Lines offered now would queue behind the backlog and time it,
		// not kaudit's latency at half load.
		r.res.note("latency: not measured: kaudit was still %d lines behind the preloaded workload when its phase ended", behind)
	} else if err := r.latency(ctx, addr, p, gen); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.res.note("latency: %v", err)
		r.log.Warn("latency phase failed", "err", err)
	}
	p.stop(30 * time.Second)
	broker.stop(30 * time.Second)

	// Part 2: a fresh broker for the 1M-connection table, its RSS and its
	// recovery. (kaudit's group and table names are fixed, so a table of
	// exactly this size needs a broker of its own.)
	return r.table(ctx)
}

// preload creates the topics and writes the workload to the raw topic.
func (r *run) preload(ctx context.Context, addr string, gen *Generator) error {
	cl, err := rawProducer(ctx, addr, r.o.CleanerBackoff, rawTopic, copyTopic, gokaTopic)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.log.Info("preloading", "lines", r.o.Lines, "topic", rawTopic)
	took, err := preload(ctx, newSender(cl, gen), r.o.Lines)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	r.res.Workload = gen.Counts()
	r.res.PreloadLinesPerS = float64(r.o.Lines) / took.Seconds()
	w := r.res.Workload
	r.log.Info("preloaded", "lines", w.Lines, "bytes", w.Bytes, "connections", w.Connections,
		"audited", w.Audited, "suppressed", w.Suppressed, "took", took.Round(time.Millisecond))
	return nil
}

// baseline runs the sarama copy.
func (r *run) baseline(ctx context.Context, addr string) error {
	r.log.Info("baseline: sarama consumer group copying the raw topic", "to", copyTopic)
	var (
		b   BaselineResult
		err error
	)
	y := r.inHarness("the baseline copy", func() (int64, time.Duration, float64) {
		b, err = runBaseline(ctx, []string{addr}, rawTopic, copyTopic, baselineGroup, r.o.Lines, r.allot(0.25, r.o.PhaseTimeout))
		return b.Lines, b.Elapsed, b.CPUSeconds
	})
	r.res.BaselineCores, r.res.BaselineSeconds, r.res.BaselineLinesPerS = y.Cores, y.Seconds, y.LinesPerS
	r.res.BaselineCPUSPerMillion, r.res.BaselineBrokerCPUSPerMillion = y.CPUSPerMillion, y.BrokerCPUSPerMillion
	if b.Errors > 0 {
		r.res.note("baseline: %d copies failed", b.Errors)
	}
	r.log.Info("baseline done", "lines", b.Lines, "took", b.Elapsed.Round(time.Millisecond),
		"lines_per_s", int64(r.res.BaselineLinesPerS), "first_line_after", b.FirstAt.Round(time.Millisecond))
	return err
}

// inHarness runs a yardstick in the harness process and turns the lines
// it did, its time and its CPU seconds into its figures, with the cores
// the harness, the broker and other processes used meanwhile.
func (r *run) inHarness(what string, run func() (lines int64, elapsed time.Duration, cpuSeconds float64)) Yardstick {
	runtime.GC() // not the previous phase's garbage on this one's clock
	w := watchCPU(os.Getpid(), r.broker.pid())
	lines, elapsed, cpu := run()
	each, others, secs := w.cores()
	r.shared(what, others)
	y := Yardstick{Cores: Cores{Harness: each[0], Broker: each[1], Others: others}}
	if elapsed > 0 && lines > 0 {
		y.Seconds = elapsed.Seconds()
		y.LinesPerS = float64(lines) / y.Seconds
		y.CPUSPerMillion = cpu / float64(lines) * 1e6
		y.BrokerCPUSPerMillion = each[1] * secs / float64(lines) * 1e6
	}
	return y
}

// goka runs the goka yardsticks: the trivial processor, then the
// read-only one.
func (r *run) goka(ctx context.Context, addr string) error {
	var errs []error
	for _, y := range []struct {
		y   gokaYardstick
		res *Yardstick
	}{{gokaTrivial, &r.res.GokaTrivial}, {gokaRead, &r.res.GokaRead}} {
		r.log.Info("goka yardstick", "processor", y.y.what)
		var (
			g   GokaResult
			err error
		)
		*y.res = r.inHarness(y.y.what, func() (int64, time.Duration, float64) {
			g, err = runGoka(ctx, []string{addr}, rawTopic, y.y, r.o.Lines, r.allot(0.15, r.o.PhaseTimeout))
			return g.Lines, g.Elapsed, g.CPUSeconds
		})
		r.log.Info("goka yardstick done", "processor", y.y.what, "lines", g.Lines, "took", g.Elapsed.Round(time.Millisecond), "lines_per_s", int64(y.res.LinesPerS))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", y.y.what, err))
		}
	}
	return errors.Join(errs...)
}

// throughput starts kaudit on the preloaded topic and waits until it has
// read every line and audited every kept request. It returns the running
// pipeline for the latency phase.
func (r *run) throughput(ctx context.Context, addr string) (*pipeline, error) {
	r.log.Info("kaudit: end to end over the preloaded workload")
	var extra []string
	if r.o.ProfileDir != "" {
		extra = append(extra, "--pprof")
	}
	if r.o.Hops {
		// The harness reads the internal streams behind kaudit: they must
		// not be purged under it.
		cfg := filepath.Join(r.dir, "kaudit-hops.yaml")
		if err := os.WriteFile(cfg, []byte("topics:\n  purge_interval: -1s\n"), 0o600); err != nil {
			return nil, err
		}
		extra = append(extra, "--config", cfg)
	}
	p, err := startPipeline(r.o.Binary, "kaudit", filepath.Join(r.dir, "kaudit-throughput.log"), addr, filepath.Join(r.dir, "state-throughput"), extra...)
	if err != nil {
		return nil, err
	}
	r.track(p.child)
	w := watchCPU(p.pid(), r.broker.pid(), os.Getpid())
	n := r.o.Lines
	var first time.Time
	var atFirst int64  // lines read by then
	var prof *profiles // started at the first line
	defer func() { prof.stop() }()
	timeout := r.allot(0.45, r.o.PhaseTimeout)
	c, err := r.waitCounts(ctx, p, timeout, func(c counters) bool {
		if first.IsZero() && c.LinesIn > 0 {
			first, atFirst = time.Now(), c.LinesIn
			prof = r.startProfiles(ctx, p, profileReq{endpoint: "profile", d: throughputProfileFor, file: "throughput.cpu.pprof"})
		}
		return c.caughtUp(n) && c.Kept > 0
	})
	end := time.Now()
	u, uerr := p.usage()
	each, others, secs := w.cores()
	r.res.KauditCores = Cores{Kaudit: each[0], Broker: each[1], Harness: each[2], Others: others}
	r.shared("kaudit's throughput run", others)
	r.res.KauditCounts = c.state()
	if err != nil {
		if p.exited() || ctx.Err() != nil {
			return nil, err
		}
		// Out of time: report the rate so far, and go on.
		r.res.note("throughput: kaudit read %d of %d lines in the %s it had (%v); its rates are over those", c.LinesIn, n, timeout.Round(time.Second), err)
		n = c.LinesIn
	}
	took := end.Sub(p.started)
	r.res.KauditSeconds = took.Seconds()
	r.res.KauditLinesPerS = float64(n) / took.Seconds()
	if !first.IsZero() {
		r.res.KauditStartupSeconds = first.Sub(p.started).Seconds()
		r.res.KauditSteadyLinesPerS = steadyRate(n, atFirst, end.Sub(first))
	}
	if r.res.BaselineLinesPerS > 0 {
		r.res.Ratio = r.res.KauditLinesPerS / r.res.BaselineLinesPerS
	}
	if r.res.GokaTrivial.LinesPerS > 0 {
		r.res.GokaRatio = r.res.KauditLinesPerS / r.res.GokaTrivial.LinesPerS
	}
	if uerr == nil && n > 0 {
		r.res.CPUSPerMillion = u.CPUSeconds / float64(n) * 1e6
		r.res.PeakRSSBytes = u.PeakRSS
		r.res.BrokerCPUSPerMillion = each[1] * secs / float64(n) * 1e6
	}
	if c.Restarts > 0 {
		r.res.note("kaudit rebuilt its processors %d times during the throughput run", c.Restarts)
	}
	if c.DeadLetter > 0 {
		r.res.note("kaudit dead-lettered %d lines of the workload", c.DeadLetter)
	}
	if want := r.res.Workload.Suppressed; c.Suppressed != want && err == nil {
		r.res.note("kaudit suppressed %d lines, the generator expected %d (lines of one connection arrive over 8 partitions, so which is first can differ)", c.Suppressed, want)
	}
	r.log.Info("kaudit done", "lines", n, "took", took.Round(time.Millisecond), "lines_per_s", int64(r.res.KauditLinesPerS),
		"steady_lines_per_s", int64(r.res.KauditSteadyLinesPerS), "kept", c.Kept, "suppressed", c.Suppressed, "batched", c.Batched,
		"records_out", c.RecordsOut, "cpu_s", u.CPUSeconds, "peak_rss", u.PeakRSS,
		"kaudit_cores", round1(each[0]), "broker_cores", round1(each[1]), "other_cores", round1(others))
	if err == nil {
		r.settle(ctx, p, n, end)
	}
	// Before the latency phase: kaudit takes one CPU profile at a time.
	if err := prof.wait(); err != nil {
		r.res.note("throughput: %v", err)
	}
	return p, nil
}

// settle waits until the table owners have applied every batched repeat
// (batches wait up to dedup.batch_age on the input side), so that the CPU
// figure includes that deferred work and the latency phase starts from a
// quiet pipeline rather than amid the throughput run's batches.
func (r *run) settle(ctx context.Context, p *pipeline, n int64, caughtUp time.Time) {
	timeout := r.allot(0.1, 2*time.Minute)
	c, err := r.waitCounts(ctx, p, timeout, func(c counters) bool { return c.settled(n) })
	if err != nil {
		r.res.note("throughput: %d of %d batched repeats applied, %d dropped, after %s (%v)", c.Applied, c.Batched, c.Dropped, timeout.Round(time.Second), err)
		return
	}
	if c.Dropped > 0 {
		r.res.note("throughput: the owners dropped %d of %d batched repeats (no state of their connection)", c.Dropped, c.Batched)
	}
	r.res.SettleSeconds = time.Since(caughtUp).Seconds()
	if u, err := p.usage(); err == nil {
		r.res.CPUSPerMillionSettled = u.CPUSeconds / float64(n) * 1e6
	}
	r.log.Info("kaudit settled", "batched", c.Batched, "after_s", round1(r.res.SettleSeconds), "cpu_s_per_million", round1(r.res.CPUSPerMillionSettled))
}

// errTimeout ends a wait that ran out of its time.
var errTimeout = errors.New("out of time")

// waitCounts scrapes p every 200ms until done says so, p exits, or
// timeout passes; it returns the last counters read.
func (r *run) waitCounts(ctx context.Context, p *pipeline, timeout time.Duration, done func(counters) bool) (counters, error) {
	deadline := time.Now().Add(timeout)
	var last counters
	lastLog := time.Now()
	for {
		c, err := p.scrape(ctx)
		if err == nil {
			last = c
			if done(c) {
				return c, nil
			}
		}
		if p.exited() {
			return last, p.failure()
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if time.Now().After(deadline) {
			return last, errTimeout
		}
		if time.Since(lastLog) > 10*time.Second {
			r.log.Info("waiting", "process", p.describe(), "lines_in", last.LinesIn, "kept", last.Kept, "audited", last.Audited)
			lastLog = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// latency offers half of kaudit's steady rate for LatencyFor, with every
// line stamped with its send time, and times the audit records.
func (r *run) latency(ctx context.Context, addr string, p *pipeline, gen *Generator) error {
	rate := r.res.KauditSteadyLinesPerS / 2
	if rate == 0 {
		rate = r.res.KauditLinesPerS / 2
	}
	rate = max(rate, 100)
	if r.o.LatencyRate > 0 {
		rate = r.o.LatencyRate
		r.res.note("latency: offered a fixed %.0f lines/s (--latency-rate), not half of kaudit's rate", rate)
	}
	cl, err := newProducer(addr, rawTopic, 0)
	if err != nil {
		return err
	}
	defer cl.Close()
	var through []string
	if r.o.Hops {
		through = []string{rekeyedTopic}
	}
	from := map[string]map[int32]int64{}
	for _, t := range append([]string{auditTopic}, through...) {
		if from[t], err = endOffsets(ctx, cl, t); err != nil {
			return err
		}
	}
	reader, err := newLatencyReader(addr, from)
	if err != nil {
		return err
	}
	rctx, stopReader := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		reader.run(rctx)
	}()
	defer func() {
		stopReader()
		<-readerDone
		reader.cl.Close()
	}()
	base, err := p.scrape(ctx)
	if err != nil {
		return err
	}
	r.log.Info("latency: offering load", "lines_per_s", int64(rate), "for", r.o.LatencyFor)
	runtime.GC()
	w := watchCPU(p.pid(), r.broker.pid(), os.Getpid())
	prof := r.startProfiles(ctx, p,
		profileReq{endpoint: "profile", d: r.o.LatencyFor, file: "latency.cpu.pprof"},
		profileReq{endpoint: "trace", after: max(r.o.LatencyFor/2-traceFor/2, 0), d: traceFor, file: "latency.trace"})
	defer prof.stop()
	start := time.Now()
	sent, err := paced(ctx, newSender(cl, gen), rate, r.o.LatencyFor)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	each, others, _ := w.cores()
	r.res.LatencyCores = Cores{Kaudit: each[0], Broker: each[1], Harness: each[2], Others: others}
	r.shared("the latency phase", others)
	r.res.LatencyLines = sent
	r.res.LatencySeconds = elapsed.Seconds()
	r.res.LatencyOfferedLinesPerS = float64(sent) / elapsed.Seconds()
	if now, err := p.scrape(ctx); err == nil {
		r.res.LatencyBacklogLines = max(base.LinesIn+sent-now.LinesIn, 0)
	}
	// Let kaudit finish what was sent, then wait for the last records.
	drain := r.allot(0.15, 2*time.Minute)
	if _, err := r.waitCounts(ctx, p, drain, func(c counters) bool { return c.caughtUp(base.LinesIn + sent) }); err != nil {
		r.res.note("latency: kaudit did not catch up within %s after sending stopped (%v); lines it had not audited then are not timed", drain.Round(time.Second), err)
	}
	for quiet := time.Now().Add(10 * time.Second); time.Now().Before(quiet); time.Sleep(100 * time.Millisecond) {
		if _, _, last := reader.snapshot(); !last.IsZero() && time.Since(last) > time.Second {
			break
		}
	}
	if err := prof.wait(); err != nil {
		r.res.note("latency: %v", err)
	}
	records, samples, _ := reader.snapshot()
	ms := make([]float64, len(samples))
	var first, last []float64 // lines sent in the first and the last quarter
	var produceFetch, other []float64
	windows := make([][]float64, int(elapsed/(5*time.Second))+1)
	q := elapsed / 4
	for i, s := range samples {
		ms[i] = s.ms
		if s.produceFetch {
			produceFetch = append(produceFetch, s.ms)
		} else {
			other = append(other, s.ms)
		}
		sent := time.Unix(0, s.sent).Sub(start)
		if w := int(sent / (5 * time.Second)); w >= 0 && w < len(windows) {
			windows[w] = append(windows[w], s.ms)
		}
		switch {
		case sent < q:
			first = append(first, s.ms)
		case sent >= elapsed-q:
			last = append(last, s.ms)
		}
	}
	for _, w := range windows {
		if len(w) > 0 {
			r.res.P99By5sMs = append(r.res.P99By5sMs, round1(Summarise(w).P99))
		}
	}
	l := Summarise(ms)
	r.res.LatencyRecords, r.res.LatencySamples = records, l.Samples
	r.res.P50Ms, r.res.P90Ms, r.res.P99Ms, r.res.MaxMs = l.P50, l.P90, l.P99, l.Max
	r.res.P50FirstQuarterMs, r.res.P50LastQuarterMs = Summarise(first).P50, Summarise(last).P50
	r.res.P99ProduceFetchMs, r.res.ProduceFetchSamples = Summarise(produceFetch).P99, len(produceFetch)
	r.res.P99OtherMs = Summarise(other).P99
	if l.Samples == 0 {
		return fmt.Errorf("no stamped audit records read from %s (%d records in all)", auditTopic, records)
	}
	if r.o.Hops {
		r.res.LatencyHops = reader.hops(samples, through)
	}
	r.log.Info("latency done", "sent", sent, "records", records, "samples", l.Samples,
		"p50_ms", round1(l.P50), "p99_ms", round1(l.P99), "p99_by_5s_ms", r.res.P99By5sMs, "max_ms", round1(l.Max), "backlog_at_stop", r.res.LatencyBacklogLines,
		"kaudit_cores", round1(r.res.LatencyCores.Kaudit), "broker_cores", round1(r.res.LatencyCores.Broker),
		"harness_cores", round1(r.res.LatencyCores.Harness), "other_cores", round1(r.res.LatencyCores.Others))
	return nil
}

// table builds a TableConnections-entry dedup table on a fresh broker,
// measures RSS before and after, then restarts kaudit on an empty and on
// the warm state dir and times each until /readyz.
func (r *run) table(ctx context.Context) error {
	n := r.o.TableConnections
	r.res.TableConnections = n
	broker, addr, err := startBroker(ctx, r.o.Binary, filepath.Join(r.dir, "broker2"))
	if err != nil {
		return err
	}
	r.track(broker)
	defer broker.stop(30 * time.Second)
	cl, err := rawProducer(ctx, addr, r.o.CleanerBackoff, rawTopic)
	if err != nil {
		return err
	}
	defer cl.Close()

	warm := filepath.Join(r.dir, "state-table")
	p, err := startPipeline(r.o.Binary, "kaudit-table", filepath.Join(r.dir, "kaudit-table.log"), addr, warm)
	if err != nil {
		return err
	}
	r.track(p.child)
	if _, err := p.waitReady(ctx, r.allot(0.2, 2*time.Minute)); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	if u, err := p.usage(); err == nil {
		r.res.RSSEmptyBytes = u.RSS
	}

	// A small table first: 2,000 connections of the usual mix, so the
	// code paths and buffers are warm before the "small" RSS is read.
	const smallLines = 20_000
	small := NewGenerator(Workload{Connections: 2000, Seed: r.o.Seed + 1, Partitions: partitions})
	if _, err := preload(ctx, newSender(cl, small), smallLines); err != nil {
		return fmt.Errorf("table phase, small workload: %w", err)
	}
	if _, err := r.waitCounts(ctx, p, r.allot(0.2, 2*time.Minute), func(c counters) bool { return c.caughtUp(smallLines) }); err != nil {
		return fmt.Errorf("table phase, small workload: %w", err)
	}
	time.Sleep(3 * time.Second)
	if u, err := p.usage(); err == nil {
		r.res.RSSSmallBytes = u.RSS
	}

	r.log.Info("table: one Produce on each of many new connections", "connections", n)
	distinct := NewGenerator(Workload{Distinct: true, Seed: r.o.Seed + 2, Partitions: partitions})
	start := time.Now()
	if _, err := preload(ctx, newSender(cl, distinct), n); err != nil {
		return fmt.Errorf("table phase: %w", err)
	}
	timeout := r.allot(0.6, r.o.PhaseTimeout)
	c, err := r.waitCounts(ctx, p, timeout, func(c counters) bool { return c.caughtUp(smallLines + n) })
	took := time.Since(start)
	if err != nil {
		if p.exited() || ctx.Err() != nil {
			return err
		}
		r.res.note("table phase: kaudit read %d of %d lines in the %s it had (%v); the table is that much smaller", c.LinesIn-smallLines, n, timeout.Round(time.Second), err)
	}
	filled := max(c.LinesIn-smallLines, 0)
	r.res.TableFilled = filled
	r.res.TableFillLinesPerS = float64(filled) / took.Seconds()
	time.Sleep(5 * time.Second)
	if u, err := p.usage(); err == nil && filled > 0 {
		r.res.RSSLargeBytes = u.RSS
		r.res.BytesPerConnection = float64(u.RSS-r.res.RSSSmallBytes) / float64(filled)
	}
	r.log.Info("table filled", "connections", filled, "took", took.Round(time.Millisecond),
		"rss_small", r.res.RSSSmallBytes, "rss_large", r.res.RSSLargeBytes, "bytes_per_connection", int64(r.res.BytesPerConnection))
	p.stop(60 * time.Second)

	// A restarted instance's RSS above a just-started empty one, per
	// connection of the table; 0 when either is unknown.
	overEmpty := func(rss int64) float64 {
		if filled == 0 || r.res.RSSEmptyBytes == 0 {
			return 0
		}
		return float64(rss-r.res.RSSEmptyBytes) / float64(filled)
	}

	// Warm: the state dir the table was built in.
	d, u, err := r.recover(ctx, addr, "kaudit-warm", warm, r.allot(0.35, r.o.PhaseTimeout))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		r.res.note("warm recovery: %v", err)
	} else {
		r.res.RecoveryWarmS1M = d.Seconds()
		r.res.RSSWarmBytes = u.RSS
		r.res.BytesPerConnectionWarm = overEmpty(u.RSS)
	}
	// Cold: an empty state dir; the table comes back from its changelog.
	d, u, err = r.recover(ctx, addr, "kaudit-cold", filepath.Join(r.dir, "state-cold"), r.allot(0.9, r.o.PhaseTimeout))
	if err != nil {
		return fmt.Errorf("recovery from an empty state dir: %w", err)
	}
	r.res.RecoveryS1M = d.Seconds()
	r.res.RSSRecoveredBytes = u.RSS
	r.res.BytesPerConnectionRecovered = overEmpty(u.RSS)
	return nil
}

// recover starts kaudit on stateDir and times it from start to /readyz
// 200; it returns the time and the RSS two seconds after, and stops it.
func (r *run) recover(ctx context.Context, addr, name, stateDir string, timeout time.Duration) (time.Duration, ProcUsage, error) {
	r.log.Info("recovery: restarting kaudit", "as", name, "state_dir", stateDir)
	p, err := startPipeline(r.o.Binary, name, filepath.Join(r.dir, name+".log"), addr, stateDir)
	if err != nil {
		return 0, ProcUsage{}, err
	}
	r.track(p.child)
	defer p.stop(60 * time.Second)
	d, err := p.waitReady(ctx, timeout)
	if err != nil {
		return 0, ProcUsage{}, err
	}
	time.Sleep(2 * time.Second)
	u, err := p.usage()
	r.log.Info("recovered", "as", name, "ready_after", d.Round(time.Millisecond), "rss", u.RSS)
	return d, u, err
}

func round1(f float64) float64 { return float64(int64(f*10)) / 10 }
