package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/kaudit/kaudit/processors/access"
	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology/query"
)

// Pipeline is one kaudit instance: both processors, the dedup-table view
// and the HTTP server. Several instances with the same config form one
// consumer group per processor and share the partitions.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	router  *route.Router

	started   chan struct{}
	httpAddr  atomic.Value // string, once listening
	ready     atomic.Bool
	staleness atomic.Value // map[goka.Table]Staleness, from collectStats
	recent    *recent
	sweeper   *sweeper
	batcher   *dedup.Batcher
	drains    drains // topics of older layouts still read (upgrade)
	deltas    *access.Buffer
	live      liveViews
}

// Option adjusts a Pipeline; tests use it to inject a logger or router.
type Option func(*Pipeline)

// WithLogger sets the logger (default slog.Default()); nil keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(p *Pipeline) {
		if l != nil {
			p.log = l
		}
	}
}

// New validates the config and prepares a pipeline. It does not connect.
func New(cfg Config, opts ...Option) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	if err := cfg.LoadSecrets(); err != nil {
		return nil, err
	}
	router, err := cfg.Router()
	if err != nil {
		return nil, err // Validate reported it already; unreachable in practice
	}
	p := &Pipeline{cfg: cfg, log: slog.Default(), metrics: newMetrics(), started: make(chan struct{}), router: router, recent: newRecent(),
		sweeper: &sweeper{rules: dedup.Rules{TTL: cfg.Dedup.TTL}}, deltas: &access.Buffer{}}
	p.batcher = &dedup.Batcher{Rules: p.sweeper.rules, Age: cfg.Dedup.BatchAge, MaxPending: cfg.Dedup.MaxBatching, Known: func(key string) *schemas.ConnState {
		v, err := p.live.with(DedupTable, func(v *goka.View) (any, error) { return v.Get(key) })
		if err != nil {
			return nil // restarting: let the table owner decide
		}
		st, _ := v.(*schemas.ConnState)
		return st
	}}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Metrics returns the pipeline's counters.
func (p *Pipeline) Metrics() *Metrics { return p.metrics }

// Started is closed once topics exist and the HTTP server listens.
func (p *Pipeline) Started() <-chan struct{} { return p.started }

// HTTPAddr is the address the HTTP server listens on, "" before Started.
func (p *Pipeline) HTTPAddr() string {
	s, _ := p.httpAddr.Load().(string)
	return s
}

// Ready reports whether both processors and the view have recovered their
// tables and are processing.
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// Graphs returns the group graphs with the pipeline's callbacks.
func (p *Pipeline) Graphs() []*goka.GroupGraph {
	st := p.cfg.Streams()
	m := p.metrics
	obs := m.dedupObserver()
	obs.Seen = p.sweeper.seen
	ds := dedup.Settings{
		Rules:        p.sweeper.rules,
		Batcher:      p.batcher,
		Access:       p.deltas.Add,
		MaxLineBytes: p.cfg.Input.MaxLineBytes,
		Cluster:      p.cfg.Cluster.ID, Location: p.cfg.location(), Log: p.log, Observe: obs, Audited: p.cfg.Audited,
		Resolve: func(ctx goka.Context) func(cluster, id string) (string, bool) { return p.lookups(ctx).TopicName },
	}
	es := enrich.Settings{
		Cluster: p.cfg.enrichCluster(),
		Lookups: p.lookups,
		Route: func(info schemas.RouteInfo) []schemas.Target {
			return p.router.Decide(info).Targets
		},
		Access:   func(_ goka.Context, d *schemas.AccessDelta) { p.deltas.Add(d) },
		Log:      p.log,
		Consumed: func(api string) { m.audited.WithLabelValues(api).Inc() },
		Emitted: func(topic string) {
			m.recordsOut.WithLabelValues(topic).Inc()
			p.recent.add(topic)
		},
		Failed: func(reason string) { m.deadLetter.WithLabelValues(reason).Inc() },
	}
	// Kept requests are audited by the callback that keeps them: a hop
	// through a topic to a group of its own cost a produce, a consume and
	// a queue per record (BENCHMARKS.md, "Audit in place").
	audit := enrich.Process(enrich.Outputs{DeadLetter: st.DeadLetter}, es)
	ds.Keep = func(ctx goka.Context, r *schemas.RequestLog) { audit(ctx, r) }
	keep := KeepEdges(p.router.Topics())
	graphs := []*goka.GroupGraph{RekeyGraph(st, ds, keep...), DedupGraph(st, ds, p.drains.loop, keep...),
		CatalogGraph(st), DirectoryGraph(st), TopicsGraph(st), PrincipalsGraph(st)}
	if p.drains.requests {
		graphs = append(graphs, AuditGraph(st, es, keep...))
	}
	return graphs
}

// lookups resolves topic ids through the catalog table and principals
// through the directory table, then the config's principals.
func (p *Pipeline) lookups(ctx goka.Context) enrich.Lookups {
	return enrich.Lookups{
		TopicName: func(cluster, id string) (string, bool) {
			if t, ok := ctx.Lookup(CatalogTable, schemas.TopicKey(cluster, id)).(*schemas.TopicInfo); ok && t != nil {
				return t.Name, true
			}
			return "", false
		},
		Identity: func(principal string) (schemas.Identity, bool) {
			if id, ok := ctx.Lookup(DirectoryTable, principal).(*schemas.Identity); ok && id != nil {
				return *id, true
			}
			id, ok := p.cfg.Principals[principal]
			return id, ok
		},
	}
}

// Run creates missing topics, then runs the processors, the views and the
// HTTP server until ctx is done. It returns nil on a clean shutdown.
//
// Setup problems (topics, config, the listen address) end Run. Errors of a
// running processor or view do not: the processors and views are rebuilt
// (a goka processor cannot be Run twice) after a backoff, and the HTTP
// server keeps answering, with 503 and /readyz false, in between.
func (p *Pipeline) Run(ctx context.Context) error {
	var err error
	if p.drains, err = upgrade(ctx, &p.cfg, p.log); err != nil {
		return err
	}
	graphs := p.Graphs()
	plan, err := EnsureTopics(&p.cfg, p.destinationConfigs(), graphs...)
	if err != nil {
		return err
	}
	p.log.Info("topics ready", "partitions", plan.Partitions, "replication", plan.Replication, "created", plan.Created)
	p.sweeper.partitions = plan.Partitions
	if _, err := p.auditRoutingChange(time.Now()); err != nil {
		return err
	}

	eg, egCtx := errgroup.WithContext(ctx)
	if p.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http_addr: %w", err)
		}
		p.httpAddr.Store(ln.Addr().String())
		srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 5 * time.Second}
		eg.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		eg.Go(func() error {
			<-egCtx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	close(p.started)
	eg.Go(func() error { return p.runLoop(egCtx, graphs) })
	err = eg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Restart backoff bounds: a rebuild waits 1s, doubling to 30s while
// failures repeat; a minute of stable running resets it.
const (
	restartMin    = time.Second
	restartMax    = 30 * time.Second
	restartStable = time.Minute
)

// runLoop runs the processors and views, rebuilding them after errors,
// until ctx is done.
func (p *Pipeline) runLoop(ctx context.Context, graphs []*goka.GroupGraph) error {
	backoff := restartMin
	for {
		began := time.Now()
		err := p.runOnce(ctx, graphs)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > restartStable {
			backoff = restartMin
		}
		p.metrics.restarts.Inc()
		p.log.Warn("processors failed; rebuilding", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartMax)
		// Deleted under a running kaudit: goka cannot start a processor
		// whose loop topic is missing, and EnsureTopics below would make
		// the requests topic again.
		if now := p.drains.still(&p.cfg); now != p.drains {
			p.log.Info("a topic of an older layout is gone; kaudit stops reading it",
				"reads_loop", now.loop, "drains_requests", now.requests)
			p.drains = now
			graphs = p.Graphs()
		}
		// A topic deleted under a running kaudit is made again, with its
		// partitions and configs, before the rebuilt processors need it.
		// After the check above: the deleted old loop is not one of them.
		if plan, err := EnsureTopics(&p.cfg, p.destinationConfigs(), graphs...); err != nil {
			p.log.Warn("checking topics before the rebuild", "err", err)
		} else if len(plan.Created) > 0 {
			p.log.Warn("topics were missing; created them again", "topics", plan.Created)
		}
	}
}

// runOnce builds the processors and views and runs them until ctx is done
// or one of them fails.
//
// Teardown runs front to back: the stats collector and the sweeper stop,
// the HTTP handlers lose the views (under the write lock, so no request
// is inside one), and only then do processors and views stop. goka's View
// and Processor read their partition lists without a lock while they tear
// them down (goka v1.1.17), so nothing may query them once they stop.
func (p *Pipeline) runOnce(ctx context.Context, graphs []*goka.GroupGraph) error {
	start := time.Now()
	// The loop records the batcher remembers sending may have died with the
	// processors that sent them; the rebuilt ones read those lines again.
	p.batcher.Forget()
	tr := &tracker{log: p.log}
	defer tr.closeAll()
	procs := map[goka.Group]*goka.Processor{}
	for _, g := range graphs {
		opts := append(p.processorOptions(g.Group(), tr), GroupOptions(g.Group())...)
		proc, err := goka.NewProcessor(p.cfg.Brokers, g, opts...)
		if err != nil {
			return fmt.Errorf("processor %s: %w", g.Group(), err)
		}
		procs[g.Group()] = proc
	}
	views := map[goka.Table]*goka.View{}
	for _, t := range []struct {
		table goka.Table
		codec goka.Codec
	}{
		{DedupTable, new(schemas.ConnStateCodec)},
		{TopicsTable, new(schemas.TopicSummaryCodec)},
		{PrincipalsTable, new(schemas.PrincipalSummaryCodec)},
	} {
		v, err := goka.NewView(p.cfg.Brokers, t.table, t.codec, p.viewOptions(string(t.table), tr)...)
		if err != nil {
			return fmt.Errorf("view %s: %w", t.table, err)
		}
		views[t.table] = v
	}
	_, pb, _, tmb := p.saramaBuilders(tr)
	newEmitter := func(s goka.Stream, c goka.Codec) (*goka.Emitter, error) {
		e, err := goka.NewEmitter(p.cfg.Brokers, s, c, goka.WithEmitterProducerBuilder(pb), goka.WithEmitterTopicManagerBuilder(tmb))
		if err != nil {
			return nil, fmt.Errorf("emitter for %s: %w", s, err)
		}
		return e, nil
	}
	var (
		em  housekeepingEmitters
		err error
	)
	st := p.cfg.Streams()
	em.rekeyed, err = newEmitter(st.Rekeyed, new(schemas.RequestLogCodec))
	if err == nil {
		em.byTopic, err = newEmitter(st.AccessByTopic, new(schemas.TopicSummaryCodec))
	}
	if err == nil {
		em.byPrincipal, err = newEmitter(st.AccessByPrincipal, new(schemas.PrincipalSummaryCodec))
	}
	if err != nil {
		em.finish(p.log) // the ones already built
		return err
	}

	eg, egCtx := errgroup.WithContext(ctx)
	procCtx, stopProcs := context.WithCancel(context.Background())
	defer stopProcs()
	p.live.set(views)
	var front sync.WaitGroup // stats collector and housekeeping
	front.Add(2)
	go func() {
		defer front.Done()
		p.collectStats(egCtx, start, procs, views)
	}()
	go func() {
		defer front.Done()
		p.housekeeping(egCtx, views[DedupTable], em)
	}()
	eg.Go(func() error {
		<-egCtx.Done()
		front.Wait()
		p.ready.Store(false)
		p.live.set(nil)
		stopProcs()
		return nil
	})
	for _, proc := range procs {
		eg.Go(func() error { return proc.Run(procCtx) })
	}
	for _, v := range views {
		eg.Go(func() error { return v.Run(procCtx) })
	}
	err = eg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// liveViews are the views of the running processors, for the HTTP
// handlers; nil while the processors are rebuilt or stopping.
type liveViews struct {
	mu    sync.RWMutex
	views map[goka.Table]*goka.View
}

func (l *liveViews) set(v map[goka.Table]*goka.View) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.views = v
}

// ErrRestarting answers queries while the processors are rebuilt.
var ErrRestarting = errors.New("kaudit is (re)starting its processors; retry shortly")

// with runs f with a live view of table, holding the read lock so the view
// cannot be torn down under it.
func (l *liveViews) with(table goka.Table, f func(*goka.View) (any, error)) (any, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v := l.views[table]
	if v == nil {
		return nil, ErrRestarting
	}
	return f(v)
}

// housekeepingEmitters write what housekeeping sends: batches and expire
// markers to the rekeyed stream, where they keep their place behind the
// requests of their connection, coalesced summaries to the access streams.
type housekeepingEmitters struct{ rekeyed, byTopic, byPrincipal *goka.Emitter }

// finish flushes and closes the emitters that were built.
func (em housekeepingEmitters) finish(log *slog.Logger) {
	for _, e := range []*goka.Emitter{em.rekeyed, em.byTopic, em.byPrincipal} {
		if e == nil {
			continue
		}
		if err := e.Finish(); err != nil {
			log.Warn("emitter did not flush", "err", err)
		}
	}
}

// housekeeping sends the batcher's due batches, and every second the
// coalesced access summaries, and runs the sweeper, until ctx is done; then it
// sends everything pending, so a graceful stop keeps all counts.
func (p *Pipeline) housekeeping(ctx context.Context, view *goka.View, em housekeepingEmitters) {
	lost := func(what, key string, err error) {
		if err != nil {
			p.log.Warn(what+" not sent; its counts are lost", "key", key, "err", err)
		}
	}
	sendBatches := func(all bool) {
		for key, rec := range p.batcher.Due(all) {
			_, err := em.rekeyed.Emit(key, rec)
			lost("batch", key, err)
		}
	}
	sendDeltas := func() {
		ts, ps := p.deltas.Take()
		for key, part := range ts {
			_, err := em.byTopic.Emit(key, part)
			lost("topic access", key, err)
		}
		for key, part := range ps {
			_, err := em.byPrincipal.Emit(key, part)
			lost("principal access", key, err)
		}
	}
	// Batches fall due spread out (dedup.Batcher.due); sending them ten
	// times a second keeps each burst on the rekeyed stream small, so the
	// table owners do not queue the requests behind it.
	batches := time.NewTicker(100 * time.Millisecond)
	defer batches.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sweep := time.NewTicker(p.sweeper.interval())
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			sendBatches(true)
			sendDeltas()
			em.finish(p.log)
			return
		case <-batches.C:
			sendBatches(false)
		case <-tick.C:
			sendDeltas()
		case <-sweep.C:
			n, err := p.sweeper.sweepOnce(view, p.sweeper.now(), func(key string, marker *schemas.RequestLog) error {
				return em.rekeyed.EmitSync(key, marker)
			})
			if err == nil { // else the view is recovering or stopping: next time
				p.metrics.expiring.Add(float64(n))
			}
		}
	}
}

// collectStats marks the pipeline ready once every processor and view has
// recovered, then keeps the lag and staleness gauges current until ctx is
// done. goka's readiness signals are used rather than polling Recovered().
func (p *Pipeline) collectStats(ctx context.Context, start time.Time, procs map[goka.Group]*goka.Processor, views map[goka.Table]*goka.View) {
	// Lag is read from Kafka (committed offsets), not from goka's stats.
	inputs := map[goka.Group][]string{}
	for g, proc := range procs {
		for _, e := range proc.Graph().InputStreams() {
			inputs[g] = append(inputs[g], e.Topic())
		}
		if loop := proc.Graph().LoopStream(); loop != nil {
			inputs[g] = append(inputs[g], loop.Topic())
		}
	}
	var admin sarama.ClusterAdmin
	client, err := sarama.NewClient(p.cfg.Brokers, p.cfg.SaramaConfig())
	if err == nil {
		defer client.Close()
		admin, err = sarama.NewClusterAdminFromClient(client)
	}
	if err != nil {
		p.log.Warn("lag metrics unavailable", "err", err)
		admin = nil
	}
	for g, proc := range procs {
		if err := proc.WaitForReadyContext(ctx); err != nil || ctx.Err() != nil {
			return
		}
		p.metrics.recovery.WithLabelValues(string(g)).Set(time.Since(start).Seconds())
	}
	for t, v := range views {
		select {
		case <-v.WaitRunning():
			p.metrics.recovery.WithLabelValues(string(t)).Set(time.Since(start).Seconds())
		case <-ctx.Done():
			return
		}
	}
	var pu *purger
	if admin != nil && p.cfg.Topics.PurgeInterval > 0 {
		var graphs []*goka.GroupGraph
		for _, proc := range procs {
			graphs = append(graphs, proc.Graph())
		}
		pu = &purger{admin: admin, streams: purgeable(&p.cfg, graphs), every: p.cfg.Topics.PurgeInterval,
			log: p.log, gauge: p.metrics.purgedTo, last: time.Now(), done: map[streamPartition]int64{}}
	}
	observe := func() {
		var lag, committed map[lagKey]int64
		if admin != nil {
			lag, committed = groupOffsets(admin, client, inputs)
		}
		p.staleness.Store(p.metrics.observe(ctx, lag, views))
		if pu != nil {
			pu.purge(time.Now(), committed)
		}
	}
	observe() // answers carry staleness from the moment /readyz says ready
	p.ready.Store(true)
	p.log.Info("ready: tables recovered", "after", time.Since(start).Round(time.Millisecond))
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			observe()
		}
	}
}

func (p *Pipeline) handler() http.Handler {
	// ?cluster= picks a cluster other than the configured one.
	cluster := func(r *http.Request) string {
		if c := r.URL.Query().Get("cluster"); c != "" {
			return c
		}
		return p.cfg.Cluster.ID
	}
	staleness := func(t goka.Table) func() any {
		return func() any {
			m, _ := p.staleness.Load().(map[goka.Table]Staleness)
			if st, ok := m[t]; ok && p.Ready() {
				return st
			}
			return Staleness{} // not recovered yet
		}
	}
	get := func(t goka.Table) func(string) (any, error) {
		return func(key string) (any, error) {
			return p.live.with(t, func(v *goka.View) (any, error) { return v.Get(key) })
		}
	}
	list := func(t goka.Table, trim func(*http.Request) string) func(*http.Request, string, int) ([]query.Item, bool, error) {
		return func(r *http.Request, prefix string, limit int) ([]query.Item, bool, error) {
			var items []query.Item
			var more bool
			_, err := p.live.with(t, func(v *goka.View) (any, error) {
				var err error
				items, more, err = listView(v, trim(r)+prefix, len(trim(r)), limit)
				return nil, err
			})
			return items, more, err
		}
	}
	tables := map[string]query.Table{
		// Connections are many; they are listed per principal instead.
		"connections": {
			Get:       get(DedupTable),
			Key:       func(r *http.Request, id string) string { return schemas.ConnKey(cluster(r), id) },
			Staleness: staleness(DedupTable),
		},
		"topics": {
			Get:       get(TopicsTable),
			Key:       func(r *http.Request, name string) string { return schemas.TopicSummaryKey(cluster(r), name) },
			List:      list(TopicsTable, func(r *http.Request) string { return cluster(r) + "|" }),
			Staleness: staleness(TopicsTable),
		},
		"principals": {
			Get:       get(PrincipalsTable),
			List:      list(PrincipalsTable, func(*http.Request) string { return "" }),
			Staleness: staleness(PrincipalsTable),
		},
	}
	extra := map[string]http.Handler{
		"GET /metrics":  promhttp.HandlerFor(p.metrics.Registry, promhttp.HandlerOpts{}),
		"GET /v1/stats": http.HandlerFunc(p.serveStats),
	}
	if p.cfg.HTTPPprof {
		extra["GET /debug/pprof/"] = http.HandlerFunc(pprof.Index) // heap, goroutine, allocs, ...
		extra["GET /debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		extra["GET /debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
		extra["GET /debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
	}
	mux := http.NewServeMux()
	routeUI(mux) // the page: outside the token check, see web.go
	mux.Handle("/", query.Handler(query.Options{
		Tables: tables, Ready: p.Ready, Log: p.log, Token: p.cfg.HTTPToken, Extra: extra,
	}))
	return mux
}

// listView lists a view's entries whose key starts with prefix. Keys are
// checked before values are decoded; trim cuts a key prefix (the cluster)
// from the ids returned. A view holds the whole table, so this scans it:
// it is offered only for the small tables (topics, principals).
func listView(v *goka.View, prefix string, trim, limit int) ([]query.Item, bool, error) {
	it, err := v.Iterator()
	if err != nil {
		return nil, false, err
	}
	defer it.Release()
	var items []query.Item
	for it.Next() {
		if !strings.HasPrefix(it.Key(), prefix) {
			continue
		}
		if len(items) == limit {
			return items, true, nil
		}
		val, err := it.Value()
		if err != nil {
			return nil, false, err
		}
		items = append(items, query.Item{Key: it.Key()[trim:], Value: val})
	}
	return items, false, it.Err()
}

// Stats is the /v1/stats answer: this instance's counters and its recent
// records per destination.
type Stats struct {
	Counts Counts         `json:"counts"`
	Recent []RecentMinute `json:"recent"`
	Ready  bool           `json:"ready"`
}

func (p *Pipeline) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// The status is sent; an encode error means the client went away.
	_ = json.NewEncoder(w).Encode(Stats{Counts: p.metrics.Snapshot(), Recent: p.recent.snapshot(), Ready: p.Ready()}) //nolint:errcheck
}

// saramaBuilders hand every client its own copy of the sarama config:
// goka's *BuilderWithConfig helpers write ClientID and the partitioner
// into the config they share, which races.
func (p *Pipeline) saramaBuilders(tr *tracker) (goka.ConsumerGroupBuilder, goka.ProducerBuilder, goka.SaramaConsumerBuilder, goka.TopicManagerBuilder) {
	base := p.cfg.SaramaConfig()
	clone := func(clientID string) *sarama.Config {
		c := *base
		c.ClientID = clientID
		return &c
	}
	cgb := func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := sarama.NewConsumerGroup(brokers, group, clone(clientID))
		if err != nil {
			return nil, err
		}
		return orderedGroup{cg}, nil
	}
	pb := func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := clone(clientID)
		c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		return goka.NewProducer(brokers, c)
	}
	scb := func(brokers []string, clientID string) (sarama.Consumer, error) {
		c, err := sarama.NewConsumer(brokers, clone(clientID))
		if err == nil {
			tr.add(c)
		}
		return c, err
	}
	tmb := func(brokers []string) (goka.TopicManager, error) {
		tmc := goka.NewTopicManagerConfig()
		// EnsureTopics made every topic; goka must not create or judge them.
		tmc.NoCreate = true
		tmc.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
		tm, err := goka.NewTopicManager(brokers, clone(p.cfg.ClientID+"-topics"), tmc)
		if err == nil {
			tr.add(tm)
		}
		return tm, err
	}
	return cgb, pb, scb, tmb
}

func (p *Pipeline) storage(name string) storage.Builder {
	if p.cfg.StateDir == "" {
		return memoryBuilder()
	}
	return batchedBuilder(filepath.Join(p.cfg.StateDir, name), p.log)
}

func (p *Pipeline) gokaLogger(component string) goka.Logger {
	return slog.NewLogLogger(p.log.With("component", component).Handler(), slog.LevelInfo)
}

func (p *Pipeline) processorOptions(g goka.Group, tr *tracker) []goka.ProcessorOption {
	cgb, pb, scb, tmb := p.saramaBuilders(tr)
	return []goka.ProcessorOption{
		goka.WithClientID(p.cfg.ClientID + "-" + string(g)),
		goka.WithConsumerGroupBuilder(cgb),
		goka.WithProducerBuilder(pb),
		goka.WithConsumerSaramaBuilder(scb),
		goka.WithTopicManagerBuilder(tmb),
		goka.WithStorageBuilder(p.storage(string(g))),
		goka.WithLogger(p.gokaLogger(string(g))),
		goka.WithRebalanceCallback(func(a goka.Assignment) {
			p.metrics.rebalances.WithLabelValues(string(g)).Inc()
			switch g {
			case RekeyGroup:
				p.batcher.NewSession()
			case DedupGroup:
				p.sweeper.assigned(a)
			}
		}),
	}
}

func (p *Pipeline) viewOptions(name string, tr *tracker) []goka.ViewOption {
	_, _, scb, tmb := p.saramaBuilders(tr)
	return []goka.ViewOption{
		goka.WithViewClientID(p.cfg.ClientID + "-view"),
		goka.WithViewConsumerSaramaBuilder(scb),
		goka.WithViewTopicManagerBuilder(tmb),
		goka.WithViewStorageBuilder(p.storage("view-" + name)),
		goka.WithViewLogger(p.gokaLogger("view")),
		goka.WithViewAutoReconnect(),
	}
}

// tracker remembers the sarama consumers and topic managers goka opens:
// its views (the query view and each processor's lookup views) never close
// theirs (goka v1.1.17), so Run closes them all once everything stopped.
// Closing one goka already closed is harmless.
type tracker struct {
	mu      sync.Mutex
	closers []io.Closer
	log     *slog.Logger
}

func (t *tracker) add(c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closers = append(t.closers, c)
}

func (t *tracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.closers {
		if err := c.Close(); err != nil {
			t.log.Debug("closing kafka client", "err", err)
		}
	}
	t.closers = nil
}

// destinationConfigs are the topic configs of routed destinations that
// kaudit creates: the retention the routing config asks for.
func (p *Pipeline) destinationConfigs() TopicConfigs {
	out := TopicConfigs{p.cfg.Topics.Config: nil}
	for _, t := range p.router.Topics() {
		if ms := p.router.Destination(t).RetentionMs; ms != 0 {
			out[t] = map[string]string{"retention.ms": strconv.FormatInt(ms, 10)}
		}
	}
	return out
}
