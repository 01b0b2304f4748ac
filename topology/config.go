package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"go.yaml.in/yaml/v3"

	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/schemas"
)

// Config is kaudit's whole configuration: one YAML file (`--config`), with
// flags overriding single fields. Defaults() fills what is unset and
// Validate() names every bad field.
type Config struct {
	// Brokers are the bootstrap brokers of the cluster kaudit reads from
	// and writes to.
	Brokers []string `yaml:"brokers"`
	// ClientID prefixes the Kafka client ids of kaudit's clients.
	ClientID string `yaml:"client_id"`
	// KafkaVersion is the protocol version sarama speaks (e.g. 3.6.0).
	KafkaVersion string `yaml:"kafka_version"`
	// FetchBytes is what each fetch asks per partition, as Kafka's
	// max.partition.fetch.bytes (default 128 KiB); a larger batch still
	// arrives. More suits brokers far away; it costs memory, as kaudit
	// holds a fetch's batches per partition, for ~70 partitions.
	FetchBytes int `yaml:"fetch_bytes"`
	// HTTPAddr serves the query API and health endpoints; "" disables it.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPToken, when set, is the bearer token the API and metrics require
	// (probes and the page's static files stay open; the page sends it). Prefer KAUDIT_HTTP_TOKEN or
	// http_token_file to writing it here.
	HTTPToken string `yaml:"http_token"`
	// HTTPTokenFile reads HTTPToken from a file (e.g. a mounted secret).
	HTTPTokenFile string `yaml:"http_token_file"`
	// HTTPPprof serves Go's profiles under /debug/pprof/, behind the
	// token. Off by default: a CPU profile costs the pipeline while it runs.
	HTTPPprof bool `yaml:"http_pprof"`
	// StateDir keeps group-table state on disk (LevelDB) so a restart
	// recovers fast; "" keeps it in memory, recovered from Kafka at start.
	StateDir string `yaml:"state_dir"`
	// LogTimeZone is the zone of the request log's timestamps, which carry
	// none (log4j %d). IANA name; default UTC.
	LogTimeZone string `yaml:"log_time_zone"`
	// Security authenticates kaudit to the brokers (SASL, TLS).
	Security SecurityConfig `yaml:"security"`
	Cluster  ClusterConfig  `yaml:"cluster"`
	Topics   TopicsConfig   `yaml:"topics"`
	Audit    AuditConfig    `yaml:"audit"`
	Dedup    DedupConfig    `yaml:"dedup"`
	Input    InputConfig    `yaml:"input"`
	// Routing sends records to topics: Confluent's router config and/or
	// ordered routes (processors/route).
	Routing route.Config `yaml:"routing"`
	// Principals maps Kafka principals to identities. Entries in the
	// principal-directory topic take precedence over these.
	Principals map[string]schemas.Identity `yaml:"principals"`
}

// AuditConfig says which requests become audit records.
type AuditConfig struct {
	// Categories are audited in full, on top of Confluent Cloud's 13
	// request methods, which always are. E.g. [describe] adds Metadata,
	// DescribeConfigs, ...; [management] adds every other admin API.
	Categories []string `yaml:"categories"`
}

// InputConfig bounds what kaudit accepts from the raw topic.
type InputConfig struct {
	// MaxLineBytes dead-letters longer lines (reason too-large). Default 1 MiB.
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// DedupConfig tunes the first-Produce/Fetch-per-connection rule.
type DedupConfig struct {
	// TTL evicts connections idle this long (log time) and treats a
	// request after a longer gap as a new connection. Default 30m, above
	// Kafka's default connections.max.idle.ms (10m); 0 in YAML keeps the
	// default, "off" is not supported: state must stay bounded.
	TTL time.Duration `yaml:"ttl"`
	// BatchAge bounds how long repeat Produce/Fetch requests of a
	// connection are counted on the input side before one batch record
	// takes the counts to the table (default 40s). Each batch is sent at a
	// random point between half this and this (30s on average by default),
	// so that batches opened together do not reach the owners together.
	// Longer means fewer table writes; the table's counters lag by up to
	// this, and a crash loses up to this much of them. At most a quarter
	// of the TTL, so that batches keep an active connection from looking
	// idle.
	BatchAge time.Duration `yaml:"batch_age"`
	// MaxBatching bounds the connections whose repeats are being batched
	// at once (default 250,000, ~0.5 KB each); beyond it a connection's
	// repeats go to the table one by one. Memory against speed: in the
	// 1M-line bench (200k connections), 100,000 left ~100k more repeats to
	// go round the loop and ran 10-17% slower.
	MaxBatching int `yaml:"max_batching"`
}

// Audited reports whether requests of api become audit records.
func (c *Config) Audited(api schemas.API) bool {
	if api.Cloud {
		return true
	}
	for _, cat := range c.Audit.Categories {
		if norm, _ := schemas.NormalizeCategory(cat); norm == api.Category {
			return true
		}
	}
	return false
}

// ClusterConfig names the audited cluster; it supplies every CRN.
type ClusterConfig struct {
	// ID is the cluster id in CRNs (kafka=<id>) and in dedup keys. A raw
	// record's kaudit-cluster header overrides it.
	ID           string `yaml:"id"`
	CRNAuthority string `yaml:"crn_authority"`
	Organization string `yaml:"organization"`
	Environment  string `yaml:"environment"`
	CloudCluster string `yaml:"cloud_cluster"`
}

// TopicsConfig names the topics kaudit reads and writes, and how it
// creates the ones that are missing.
type TopicsConfig struct {
	Raw string `yaml:"raw"`
	// Rekeyed carries parsed requests from the re-key group to the dedup
	// table's owners, keyed by connection.
	Rekeyed string `yaml:"rekeyed"`
	// Requests is where an older kaudit sent kept requests to its audit
	// group. kaudit audits them where they are kept now; it only drains
	// this topic where it exists (README, upgrading).
	Requests   string `yaml:"requests"`
	DeadLetter string `yaml:"dead_letter"`
	// TopicIDs carries harvested topic ids to the catalog group.
	TopicIDs string `yaml:"topic_ids"`
	// Directory is the compacted principal-directory topic.
	Directory string `yaml:"directory"`
	// Config remembers kaudit's own routing config (compacted), so that a
	// change is audited once.
	Config string `yaml:"config"`
	// AccessByTopic and AccessByPrincipal carry access deltas to the topic
	// and principal tables.
	AccessByTopic     string `yaml:"access_by_topic"`
	AccessByPrincipal string `yaml:"access_by_principal"`
	// Audit is the default destination of audit records.
	Audit string `yaml:"audit"`
	// Partitions is the partition count of topics kaudit creates. A
	// group's other inputs and its table follow the count of its first
	// input, or of its table if that exists, because goka needs a group's
	// topics co-partitioned. The raw topic's count is free: the re-key
	// group reads it alone.
	Partitions int `yaml:"partitions"`
	// Replication of created topics; -1 takes the broker default.
	Replication int `yaml:"replication"`
	// PurgeInterval is how often kaudit deletes the records of its
	// internal streams (rekeyed, requests, the access streams) that every
	// group reading them has committed, as Kafka Streams purges its
	// repartition topics (default 30s, its repartition.purge.interval.ms).
	// They are then kept only until processed, not for the broker's
	// retention. Negative (e.g. -1s) turns purging off, for when something
	// else reads those streams too.
	PurgeInterval time.Duration `yaml:"purge_interval"`
}

// Defaults returns a Config with every default set.
func Defaults() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	def(&c.ClientID, "kaudit")
	def(&c.KafkaVersion, "3.6.0")
	def(&c.LogTimeZone, "UTC")
	def(&c.Cluster.ID, "kafka-cluster")
	def(&c.Topics.Raw, "kafka-request-log")
	def(&c.Topics.Rekeyed, "kaudit-rekeyed")
	def(&c.Topics.Requests, "kaudit-requests")
	def(&c.Topics.DeadLetter, "kaudit-dead-letter")
	def(&c.Topics.TopicIDs, "kaudit-topic-ids")
	def(&c.Topics.Directory, "kaudit-principal-directory")
	def(&c.Topics.Config, "kaudit-config")
	def(&c.Topics.AccessByTopic, "kaudit-access-by-topic")
	def(&c.Topics.AccessByPrincipal, "kaudit-access-by-principal")
	def(&c.Topics.Audit, "confluent-audit-log-events")
	if c.Topics.Partitions == 0 {
		c.Topics.Partitions = 8
	}
	if c.Topics.Replication == 0 {
		c.Topics.Replication = -1
	}
	if c.Topics.PurgeInterval == 0 {
		c.Topics.PurgeInterval = defaultPurgeInterval
	}
	if c.Input.MaxLineBytes == 0 {
		c.Input.MaxLineBytes = schemas.MaxLineBytes
	}
	if c.FetchBytes == 0 {
		c.FetchBytes = defaultFetchBytes
	}
	if c.Dedup.TTL == 0 {
		c.Dedup.TTL = dedup.DefaultTTL
	}
	if c.Dedup.BatchAge == 0 {
		c.Dedup.BatchAge = min(dedup.BatchAge, c.Dedup.TTL/4)
	}
	if c.Dedup.MaxBatching == 0 {
		c.Dedup.MaxBatching = dedup.DefaultMaxPending
	}
	// Copy before normalising: the caller's slice is not ours to change.
	if c.Audit.Categories != nil {
		cats := make([]string, len(c.Audit.Categories))
		for i, cat := range c.Audit.Categories {
			cats[i], _ = schemas.NormalizeCategory(cat) // legacy "other"
		}
		c.Audit.Categories = cats
	}
}

// Validate reports every invalid field, each named by its YAML path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker is required")
	}
	for i, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if v, err := sarama.ParseKafkaVersion(c.KafkaVersion); err != nil {
		bad("kafka_version", "%v", err)
	} else if !v.IsAtLeast(sarama.V0_11_0_0) {
		bad("kafka_version", "%s is older than 0.11.0, which the idempotent producer needs", c.KafkaVersion)
	}
	if c.FetchBytes < minFetchBytes || c.FetchBytes > maxFetchBytes {
		bad("fetch_bytes", "must be between %d and %d, got %d", minFetchBytes, maxFetchBytes, c.FetchBytes)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("http_addr", "%q is not host:port", c.HTTPAddr)
		}
	} else if c.HTTPPprof {
		bad("http_pprof", "profiles are served on http_addr, which is empty")
	}
	if _, err := time.LoadLocation(c.LogTimeZone); err != nil {
		bad("log_time_zone", "%v", err)
	}
	if c.Cluster.ID == "" {
		bad("cluster.id", "must not be empty")
	}
	// In the order errors are reported; a name used twice is reported at
	// its second field.
	topics := []struct{ field, name string }{
		{"topics.raw", c.Topics.Raw}, {"topics.rekeyed", c.Topics.Rekeyed}, {"topics.requests", c.Topics.Requests},
		{"topics.dead_letter", c.Topics.DeadLetter}, {"topics.audit", c.Topics.Audit},
		{"topics.topic_ids", c.Topics.TopicIDs}, {"topics.directory", c.Topics.Directory},
		{"topics.config", c.Topics.Config}, {"topics.access_by_topic", c.Topics.AccessByTopic},
		{"topics.access_by_principal", c.Topics.AccessByPrincipal},
	}
	seen := map[string]string{}
	for _, t := range topics {
		field, name := t.field, t.name
		if err := validTopicName(name); err != nil {
			bad(field, "%v", err)
		}
		if other, dup := seen[name]; dup {
			bad(field, "%q is already used by %s", name, other)
		}
		seen[name] = field
	}
	for i, cat := range c.Audit.Categories {
		if _, ok := schemas.NormalizeCategory(cat); !ok {
			bad(fmt.Sprintf("audit.categories[%d]", i), "%q is not one of %v", cat, schemas.Categories)
		}
	}
	if _, err := c.Router(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Security.validate()...)
	for p, id := range c.Principals {
		err := id.Validate()
		if err == nil {
			continue
		}
		// One line per problem, each naming the entry.
		parts := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			parts = j.Unwrap()
		}
		for _, e := range parts {
			bad(fmt.Sprintf("principals[%q]", p), "%v", e)
		}
	}
	if c.Input.MaxLineBytes < 1024 || c.Input.MaxLineBytes > 64<<20 {
		bad("input.max_line_bytes", "must be between 1024 and %d, got %d", 64<<20, c.Input.MaxLineBytes)
	}
	if c.Dedup.TTL < time.Minute {
		bad("dedup.ttl", "must be at least 1m, got %s", c.Dedup.TTL)
	} else if c.Dedup.BatchAge < 100*time.Millisecond || c.Dedup.BatchAge > c.Dedup.TTL/4 {
		bad("dedup.batch_age", "must be between 100ms and a quarter of dedup.ttl (%s), got %s", c.Dedup.TTL/4, c.Dedup.BatchAge)
	}
	if c.Dedup.MaxBatching < 1 {
		bad("dedup.max_batching", "must be at least 1, got %d", c.Dedup.MaxBatching)
	}
	if c.Topics.Partitions < 1 {
		bad("topics.partitions", "must be at least 1, got %d", c.Topics.Partitions)
	}
	if c.Topics.Replication < -1 || c.Topics.Replication == 0 {
		bad("topics.replication", "must be -1 (broker default) or at least 1, got %d", c.Topics.Replication)
	}
	if c.Topics.PurgeInterval > 0 && c.Topics.PurgeInterval < time.Second {
		bad("topics.purge_interval", "must be at least 1s, or negative to turn purging off, got %s", c.Topics.PurgeInterval)
	}
	return errors.Join(errs...)
}

// validTopicName applies Kafka's topic-name rules.
func validTopicName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case name == "." || name == "..":
		return fmt.Errorf("%q is not allowed", name)
	case len(name) > 249:
		return fmt.Errorf("%q is longer than 249 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q has %q; only [a-zA-Z0-9._-] are allowed", name, r)
		}
	}
	return nil
}

// LoadConfig reads a YAML config file over the defaults. Unknown keys are
// errors, so a typo does not silently fall back to a default.
func LoadConfig(path string) (Config, error) {
	var c Config
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.setDefaults()
	return c, nil
}

// location is the parsed LogTimeZone; Validate has checked it.
func (c *Config) location() *time.Location {
	loc, err := time.LoadLocation(c.LogTimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// defaultFetchBytes is fetch_bytes' default (sarama's is 1 MiB). A fetch
// holds each partition's batches decompressed until every message in them
// is processed, and kaudit reads ~70 partitions: at 1 MiB these buffers
// were 40% of the live heap while it caught up. 128 KiB cut the peak RSS
// by a quarter, and CPU per line fell in 6 of 8 interleaved runs
// (BENCHMARKS.md, fifteenth session). A larger batch still arrives: a
// broker sends it whole when its partition is the first in the answer
// (KIP-74; sarama lists partitions in random order), and sarama doubles
// the fetch when one comes cut short (e2e TestLargeLinesPassSmallFetches).
// The bounds keep a fetch useful and its buffers within reason.
const (
	defaultFetchBytes = 128 << 10
	minFetchBytes     = 1 << 10
	maxFetchBytes     = 64 << 20
)

// SaramaConfig is the one place kaudit's sarama settings are made. Every
// client gets its own copy (see builders), because goka's builders write
// into the config they are given.
func (c *Config) SaramaConfig() *sarama.Config {
	sc := goka.DefaultConfig()
	if v, err := sarama.ParseKafkaVersion(c.KafkaVersion); err == nil {
		sc.Version = v
	}
	sc.ClientID = c.ClientID
	// Audit pipelines must see every line ever shipped, not only new ones.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Losing an audit record to a leader change is worse than the latency.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Compression = sarama.CompressionLZ4
	// Fewer, larger produce requests: with one request in flight (below),
	// goka's 64 KB flush size made each hop a stream of small requests.
	// 256 KB halved the broker's CPU per line and cut kaudit's by ~15%
	// (BENCHMARKS.md, seventh session). The 20 ms timer bounds what a
	// quiet hop waits for a batch; goka's 100 ms put p50 at ~250 ms.
	sc.Producer.Flush.Bytes = 256 << 10
	sc.Producer.Flush.Frequency = 20 * time.Millisecond
	sc.Consumer.Fetch.Default = int32(c.FetchBytes)
	// Ride out a broker restart instead of failing emits: a failed emit
	// fails the processor, and the rebuilt one reads the message again
	// (commits.go keeps the commit behind it). Retries go on for minutes...
	sc.Producer.Retry.Max = 1000
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	// ...and one request in flight per broker keeps a retried batch from
	// landing after a later one, which would reorder a connection's
	// requests on the loop topic. Idempotence closes the last gap: the
	// broker refuses a batch that follows a lost one, so a batch that
	// failed for good (its processor stopping mid-retry) is never
	// overtaken by the next; the rebuilt processor sends both again.
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Idempotent = true
	// JoinGroup blocks for up to the rebalance timeout; it must end before
	// sarama's read timeout (30 s), or a slow rejoin fails every instance.
	sc.Consumer.Group.Rebalance.Timeout = 25 * time.Second
	// kaudit creates its topics itself, with their partitions and configs
	// (EnsureTopics). A client's metadata request must not make a broker
	// with auto.create.topics.enable (Kafka's default) create a missing one
	// with the broker's defaults: a destination with 7 days' retention, or
	// a one-partition stream its table is no longer co-partitioned with.
	sc.Metadata.AllowAutoTopicCreation = false
	c.Security.apply(sc)
	return sc
}

func (c *Config) enrichCluster() enrich.Cluster {
	return enrich.Cluster{
		ID: c.Cluster.ID, CRNAuthority: c.Cluster.CRNAuthority, Organization: c.Cluster.Organization,
		Environment: c.Cluster.Environment, CloudCluster: c.Cluster.CloudCluster,
	}
}

// Router compiles the routing config, reading the Confluent router config
// file if one is named.
func (c *Config) Router() (*route.Router, error) {
	var confluent *route.ConfluentConfig
	if path := c.Routing.RouterConfig; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("routing.router_config: %w", err)
		}
		if confluent, err = route.ParseConfluent(data); err != nil {
			return nil, fmt.Errorf("routing.router_config %s: %w", path, err)
		}
	}
	return route.New(c.Routing, confluent, c.Topics.Audit)
}

// LoadSecrets reads secrets named by *_file and *_env settings (broker
// credentials, certificates, the HTTP token). Commands that talk to Kafka
// without a Pipeline call it after Validate. Files keep secrets
// out of config files and process listings; their content is never logged.
func (c *Config) LoadSecrets() error {
	if err := c.Security.load(); err != nil {
		return err
	}
	if c.HTTPTokenFile != "" && c.HTTPToken == "" {
		b, err := os.ReadFile(c.HTTPTokenFile)
		if err != nil {
			return fmt.Errorf("http_token_file: %w", err)
		}
		c.HTTPToken = strings.TrimSpace(string(b))
		if c.HTTPToken == "" {
			return fmt.Errorf("http_token_file: %s is empty", c.HTTPTokenFile)
		}
	}
	return nil
}
