package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
	"github.com/rcrowley/go-metrics"
)

// quietClientMetrics turns off sarama's go-metrics meters and histograms
// for this process. kaudit never reads them (its figures are on /metrics),
// and updating them took 1.2% of the pipeline's CPU at steady state
// (BENCHMARKS.md, twenty-second session). It is process-wide, so only the
// commands that run the pipeline call it: the bench harness's own sarama
// copy keeps sarama's defaults.
func quietClientMetrics() { metrics.UseNilMetrics = true }

func runCmd(ctx context.Context, args []string, _ io.Writer) error {
	fs, level := newFlags("run")
	cf := addConfigFlags(fs)
	routerCfg := fs.String("router-config", envOr("KAUDIT_ROUTER_CONFIG", ""), "Confluent router config JSON (confluent.security.event.router.config) (env KAUDIT_ROUTER_CONFIG)")
	strict := fs.Bool("strict-topic-names", false, "require Confluent's confluent-audit-log-events* destination names")
	httpAddr := fs.String("http", envOr("KAUDIT_HTTP", ""), "query/health/metrics listen address, e.g. :8080 (env KAUDIT_HTTP)")
	pprof := fs.Bool("pprof", false, "serve Go profiles under /debug/pprof/ on the --http address")
	stateDir := fs.String("state-dir", envOr("KAUDIT_STATE_DIR", ""), "keep table state on disk here; empty keeps it in memory (env KAUDIT_STATE_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*level)
	if err != nil {
		return err
	}
	cfg, err := cf.loadWith(func(o *routeOverrides) { o.routerConfig, o.strict = *routerCfg, *strict })
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	cfg.HTTPPprof = cfg.HTTPPprof || *pprof
	quietClientMetrics()
	p, err := topology.New(cfg, topology.WithLogger(log))
	if err != nil {
		return err
	}
	log.Info("kaudit starting", "brokers", cfg.Brokers, "raw_topic", cfg.Topics.Raw, "http", cfg.HTTPAddr)
	return p.Run(ctx)
}

func brokerCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, level := newFlags("broker")
	listen := fs.String("listen", "127.0.0.1:9092", "listen address (127.0.0.1 only; port 0 picks one)")
	dataDir := fs.String("data-dir", "", "persist topics and offsets here across restarts; empty keeps them in memory")
	partitions := fs.Int("partitions", 8, "default partitions of auto-created topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*level)
	if err != nil {
		return err
	}
	b, err := embedded.Start(embedded.Options{Listen: *listen, DataDir: *dataDir, Partitions: *partitions, Log: log})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "kaudit broker listening on %s\n", b.Bootstrap())
	<-ctx.Done()
	log.Info("broker stopping")
	return nil
}

func demoCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, level := newFlags("demo")
	httpAddr := fs.String("http", "127.0.0.1:8080", "query API listen address")
	once := fs.Bool("once", false, "exit after printing the summary")
	fs.Lookup("log-level").DefValue = "warn"
	if err := fs.Set("log-level", envOr("KAUDIT_LOG_LEVEL", "warn")); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*level)
	if err != nil {
		return err
	}
	quietClientMetrics()
	return demo.Run(ctx, demo.Options{HTTPAddr: *httpAddr, Once: *once, Out: stdout, Log: log})
}
