package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology/ship"
)

func shipCmd(ctx context.Context, args []string, _ io.Writer) error {
	fs, level := newFlags("ship")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kaudit ship --file /var/log/kafka/kafka-request.log --brokers LIST --checkpoint FILE [--topic T] [--cluster-id ID] [--broker-id ID]")
		fs.PrintDefaults()
	}
	cf := addConfigFlags(fs)
	file := fs.String("file", "", "the broker's live request log, e.g. /var/log/kafka/kafka-request.log; rotated files are its siblings")
	checkpoint := fs.String("checkpoint", "", "checkpoint file: the file and offset of the last line Kafka acknowledged")
	topic := fs.String("topic", "", "raw topic (default topics.raw from the config: kafka-request-log)")
	clusterID := fs.String("cluster-id", "", "kaudit-cluster header: the cluster id kaudit uses for these lines instead of cluster.id")
	brokerID := fs.String("broker-id", "", "kaudit-broker-id header: the broker that wrote the log")
	hostname, _ := os.Hostname()
	host := fs.String("host", hostname, "kaudit-host header")
	httpAddr := fs.String("http", "", "serve /healthz and /metrics here, e.g. :8081")
	batchLines := fs.Int("batch-lines", 5000, "flush a batch at this many lines")
	batchBytes := fs.Int("batch-bytes", 1<<20, "flush a batch at this many bytes")
	flushInterval := fs.Duration("flush-interval", 500*time.Millisecond, "flush a batch this long after its first line")
	poll := fs.Duration("poll-interval", 200*time.Millisecond, "how often to look for new lines and rotation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || *checkpoint == "" {
		fs.Usage()
		return errors.New("--file and --checkpoint are required")
	}
	log, err := newLogger(*level)
	if err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *topic == "" {
		*topic = cfg.Topics.Raw
	}
	sink, err := ship.NewKafkaSink(ship.KafkaOptions{
		Brokers: cfg.Brokers, Topic: *topic, Sarama: cfg.SaramaConfig(), Log: log,
		Headers: map[string]string{schemas.HeaderCluster: *clusterID, ship.HeaderBrokerID: *brokerID, ship.HeaderHost: *host},
	})
	if err != nil {
		return err
	}
	defer sink.Close()
	s, err := ship.New(ship.Options{
		File: *file, Checkpoint: *checkpoint, BatchLines: *batchLines, BatchBytes: *batchBytes,
		FlushInterval: *flushInterval, PollInterval: *poll, Log: log,
	}, sink)
	if err != nil {
		return err
	}
	log.Info("kaudit ship starting", "file", *file, "topic", *topic, "brokers", cfg.Brokers, "idempotent", sink.Idempotent)

	eg, ctx := errgroup.WithContext(ctx)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		eg.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		eg.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	eg.Go(func() error {
		err := s.Run(ctx)
		st := s.Stats()
		log.Info("kaudit ship stopped", "shipped", st.Shipped, "empty", st.Empty, "too_long", st.TooLong, "rotations", st.Rotations)
		if err != nil {
			return err
		}
		return context.Canceled // stop the HTTP server too
	})
	if err := eg.Wait(); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
