// Package embedded runs an in-process Kafka broker (franz-go's kfake) that
// speaks the real wire protocol. `kaudit broker`, `kaudit demo` and the e2e
// tests use it; kaudit itself talks to it like to any cluster.
package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the broker.
type Options struct {
	// Listen is host:port; port 0 picks a free one. Default 127.0.0.1:0.
	Listen string
	// DataDir persists topics and committed offsets across restarts; ""
	// keeps everything in memory.
	DataDir string
	// CleanerBackoff is how often compacted topics are cleaned. Kafka's
	// default (15 s) hides compaction from short runs; default 1 s.
	CleanerBackoff time.Duration
	// Partitions is the default partition count of auto-created topics.
	Partitions int
	// AutoCreateTopics lets a metadata request that asks for it create a
	// missing topic, as Kafka's auto.create.topics.enable (on by default
	// in Kafka, off here).
	AutoCreateTopics bool
	// ClusterID is the cluster id the broker reports.
	ClusterID string
	// SASLUsers, when set, turn on SASL authentication: every client must
	// log in as one of them. Empty keeps the broker open. kfake closes the
	// connection on bad credentials instead of answering with an error
	// code, so clients see EOF where a real broker says "authentication
	// failed".
	SASLUsers []SASLUser
	// TLS, when set, makes the listener speak TLS with this config.
	TLS *tls.Config
	Log *slog.Logger
}

// SASLUser is one SASL login of the embedded broker.
type SASLUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism, User, Password string
	// ACLs, when set, are all this user may do: the broker then checks
	// ACLs, as Kafka's authorizer does. Users without are superusers.
	ACLs []kfake.ACL
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts a one-broker cluster.
func Start(o Options) (*Broker, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.CleanerBackoff == 0 {
		o.CleanerBackoff = time.Second
	}
	if o.Partitions == 0 {
		o.Partitions = 8
	}
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", o.Listen, err)
	}
	if host != "127.0.0.1" && host != "localhost" {
		// kfake binds and advertises the loopback address only.
		return nil, fmt.Errorf("listen %q: the embedded broker listens on 127.0.0.1 only", o.Listen)
	}
	host = "127.0.0.1"
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: bad port", o.Listen)
	}
	if port == 0 {
		// kfake binds the ports it is given; pick a free one ourselves.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			return nil, err
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(o.Partitions),
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(o.CleanerBackoff.Milliseconds(), 10),
		}),
	}
	if o.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.ClusterID != "" {
		opts = append(opts, kfake.ClusterID(o.ClusterID))
	}
	if len(o.SASLUsers) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range o.SASLUsers {
			if len(u.ACLs) > 0 {
				opts = append(opts, kfake.EnableACLs(), kfake.User(u.Mechanism, u.User, u.Password, u.ACLs...))
				continue
			}
			// Superusers: kfake checks no ACLs for them.
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
		}
	}
	if o.TLS != nil {
		opts = append(opts, kfake.TLS(o.TLS))
	}
	if o.Log != nil {
		opts = append(opts, kfake.WithLogger(slogLogger{o.Log}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", o.Listen, err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs are the bootstrap addresses.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Bootstrap is Addrs joined with commas, as kcat and --brokers take it.
func (b *Broker) Bootstrap() string { return strings.Join(b.Addrs(), ",") }

// Close stops the broker; with a data dir it flushes state first.
func (b *Broker) Close() { b.cluster.Close() }

// Cluster exposes kfake for tests that inject faults.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelInfo
	}
	s.l.Log(context.Background(), lvl, fmt.Sprintf(msg, args...), "component", "kfake")
}
