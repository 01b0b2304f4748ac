package topology_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
)

func TestDefaults(t *testing.T) {
	c := topology.Defaults()
	require.Equal(t, topology.Config{
		Brokers:      []string{"127.0.0.1:9092"},
		ClientID:     "kaudit",
		KafkaVersion: "3.6.0",
		FetchBytes:   128 << 10,
		LogTimeZone:  "UTC",
		Cluster:      topology.ClusterConfig{ID: "kafka-cluster"},
		Topics: topology.TopicsConfig{
			Raw:               "kafka-request-log",
			Rekeyed:           "kaudit-rekeyed",
			Requests:          "kaudit-requests",
			DeadLetter:        "kaudit-dead-letter",
			TopicIDs:          "kaudit-topic-ids",
			Directory:         "kaudit-principal-directory",
			Config:            "kaudit-config",
			AccessByTopic:     "kaudit-access-by-topic",
			AccessByPrincipal: "kaudit-access-by-principal",
			Audit:             "confluent-audit-log-events",
			Partitions:        8,
			Replication:       -1,
			PurgeInterval:     30 * time.Second,
		},
		Dedup: topology.DedupConfig{TTL: 30 * time.Minute, BatchAge: 40 * time.Second, MaxBatching: 250_000},
		Input: topology.InputConfig{MaxLineBytes: 1 << 20},
	}, c)
	require.NoError(t, c.Validate())
	require.Equal(t, topology.Streams{
		Raw: "kafka-request-log", Rekeyed: "kaudit-rekeyed", Requests: "kaudit-requests", DeadLetter: "kaudit-dead-letter",
		TopicIDs: "kaudit-topic-ids", Directory: "kaudit-principal-directory",
		AccessByTopic: "kaudit-access-by-topic", AccessByPrincipal: "kaudit-access-by-principal",
	}, c.Streams())
}

// TestValidate checks that Validate names exactly the bad fields, each by
// its YAML path at the start of its own line.
func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 250)
	for _, tc := range []struct {
		name   string
		edit   func(c *topology.Config)
		fields []string // the fields named, in Validate's order; none: valid
		detail string   // a substring of the message, when it matters
	}{
		{name: "defaults are valid", edit: func(*topology.Config) {}},
		{name: "no brokers", edit: func(c *topology.Config) { c.Brokers = nil }, fields: []string{"brokers"}, detail: "at least one broker"},
		{name: "broker without port", edit: func(c *topology.Config) { c.Brokers = []string{"kafka-0:9092", "kafka-1"} }, fields: []string{"brokers[1]"}, detail: `"kafka-1" is not host:port`},
		{name: "two bad brokers", edit: func(c *topology.Config) { c.Brokers = []string{"a", "b:1", "c:2:3"} }, fields: []string{"brokers[0]", "brokers[2]"}},
		{name: "ipv6 broker", edit: func(c *topology.Config) { c.Brokers = []string{"[::1]:9092"} }},
		{name: "kafka version", edit: func(c *topology.Config) { c.KafkaVersion = "banana" }, fields: []string{"kafka_version"}},
		{name: "empty kafka version", edit: func(c *topology.Config) { c.KafkaVersion = "" }, fields: []string{"kafka_version"}},
		{name: "kafka version too old", edit: func(c *topology.Config) { c.KafkaVersion = "0.10.2.0" }, fields: []string{"kafka_version"}},
		{name: "fetch bytes too small", edit: func(c *topology.Config) { c.FetchBytes = 512 }, fields: []string{"fetch_bytes"}, detail: "got 512"},
		{name: "fetch bytes too large", edit: func(c *topology.Config) { c.FetchBytes = 1 << 30 }, fields: []string{"fetch_bytes"}},
		{name: "fetch bytes at the lower bound", edit: func(c *topology.Config) { c.FetchBytes = 1 << 10 }},
		{name: "fetch bytes at the upper bound", edit: func(c *topology.Config) { c.FetchBytes = 64 << 20 }},
		{name: "batch age above a quarter of the ttl", edit: func(c *topology.Config) { c.Dedup.BatchAge = 8 * time.Minute }, fields: []string{"dedup.batch_age"}},
		{name: "batch age too short", edit: func(c *topology.Config) { c.Dedup.BatchAge = time.Millisecond }, fields: []string{"dedup.batch_age"}},
		{name: "negative max batching", edit: func(c *topology.Config) { c.Dedup.MaxBatching = -1 }, fields: []string{"dedup.max_batching"}},
		{name: "http addr without port", edit: func(c *topology.Config) { c.HTTPAddr = "localhost" }, fields: []string{"http_addr"}, detail: `"localhost" is not host:port`},
		{name: "profiles without http", edit: func(c *topology.Config) { c.HTTPAddr, c.HTTPPprof = "", true }, fields: []string{"http_pprof"}, detail: "http_addr, which is empty"},
		{name: "http addr port only", edit: func(c *topology.Config) { c.HTTPAddr = ":8080" }},
		{name: "log time zone", edit: func(c *topology.Config) { c.LogTimeZone = "Mars/Olympus_Mons" }, fields: []string{"log_time_zone"}},
		{name: "log time zone IANA", edit: func(c *topology.Config) { c.LogTimeZone = "America/New_York" }},
		{name: "cluster id", edit: func(c *topology.Config) { c.Cluster.ID = "" }, fields: []string{"cluster.id"}, detail: "must not be empty"},
		{name: "raw topic empty", edit: func(c *topology.Config) { c.Topics.Raw = "" }, fields: []string{"topics.raw"}, detail: "must not be empty"},
		{name: "requests topic dot", edit: func(c *topology.Config) { c.Topics.Requests = "." }, fields: []string{"topics.requests"}, detail: "is not allowed"},
		{name: "dead letter topic dot dot", edit: func(c *topology.Config) { c.Topics.DeadLetter = ".." }, fields: []string{"topics.dead_letter"}, detail: "is not allowed"},
		{name: "audit topic too long", edit: func(c *topology.Config) { c.Topics.Audit = long }, fields: []string{"topics.audit"}, detail: "longer than 249"},
		{name: "audit topic of 249 characters", edit: func(c *topology.Config) { c.Topics.Audit = long[:249] }},
		{name: "topic ids topic with a space", edit: func(c *topology.Config) { c.Topics.TopicIDs = "topic ids" }, fields: []string{"topics.topic_ids"}, detail: `has ' '`},
		{name: "directory topic with a slash", edit: func(c *topology.Config) { c.Topics.Directory = "a/b" }, fields: []string{"topics.directory"}, detail: `has '/'`},
		{name: "non-ascii topic", edit: func(c *topology.Config) { c.Topics.Raw = "zählung" }, fields: []string{"topics.raw"}, detail: `has 'ä'`},
		{name: "every allowed character", edit: func(c *topology.Config) { c.Topics.Raw = "aZ09._-" }},
		{
			name:   "duplicate topic names the later field",
			edit:   func(c *topology.Config) { c.Topics.Directory = c.Topics.Raw },
			fields: []string{"topics.directory"}, detail: `"kafka-request-log" is already used by topics.raw`,
		},
		{
			name:   "audit destination equal to the requests topic",
			edit:   func(c *topology.Config) { c.Topics.Audit = c.Topics.Requests },
			fields: []string{"topics.audit"}, detail: "already used by topics.requests",
		},
		{
			name:   "two empty topics are empty and duplicate",
			edit:   func(c *topology.Config) { c.Topics.Raw, c.Topics.Requests = "", "" },
			fields: []string{"topics.raw", "topics.requests", "topics.requests"},
		},
		{name: "partitions zero", edit: func(c *topology.Config) { c.Topics.Partitions = 0 }, fields: []string{"topics.partitions"}, detail: "got 0"},
		{name: "partitions negative", edit: func(c *topology.Config) { c.Topics.Partitions = -3 }, fields: []string{"topics.partitions"}},
		{name: "replication zero", edit: func(c *topology.Config) { c.Topics.Replication = 0 }, fields: []string{"topics.replication"}, detail: "got 0"},
		{name: "replication below -1", edit: func(c *topology.Config) { c.Topics.Replication = -2 }, fields: []string{"topics.replication"}},
		{name: "replication 3", edit: func(c *topology.Config) { c.Topics.Replication = 3 }},
		{name: "purge interval too short", edit: func(c *topology.Config) { c.Topics.PurgeInterval = 100 * time.Millisecond }, fields: []string{"topics.purge_interval"}, detail: "at least 1s"},
		{name: "purge off", edit: func(c *topology.Config) { c.Topics.PurgeInterval = -time.Second }},
		{name: "dedup ttl too short", edit: func(c *topology.Config) { c.Dedup.TTL = time.Second }, fields: []string{"dedup.ttl"}, detail: "at least 1m"},
		{name: "line limit too small", edit: func(c *topology.Config) { c.Input.MaxLineBytes = 10 }, fields: []string{"input.max_line_bytes"}},
		{name: "line limit too large", edit: func(c *topology.Config) { c.Input.MaxLineBytes = 1 << 30 }, fields: []string{"input.max_line_bytes"}},
		{
			name:   "unknown audit category",
			edit:   func(c *topology.Config) { c.Audit.Categories = []string{"describe", "everything", "other"} },
			fields: []string{"audit.categories[1]"}, detail: `"everything" is not one of`,
		},
		{
			name:   "config topic duplicates the directory",
			edit:   func(c *topology.Config) { c.Topics.Config = c.Topics.Directory },
			fields: []string{"topics.config"}, detail: "already used by topics.directory",
		},
		{
			name:   "access streams share a topic",
			edit:   func(c *topology.Config) { c.Topics.AccessByPrincipal = c.Topics.AccessByTopic },
			fields: []string{"topics.access_by_principal"}, detail: "already used by topics.access_by_topic",
		},
		{name: "config topic empty", edit: func(c *topology.Config) { c.Topics.Config = "" }, fields: []string{"topics.config"}},
		{
			name: "route without topics",
			edit: func(c *topology.Config) {
				c.Routing.Routes = []route.OrderedRoute{{Name: "denied", Match: route.Match{Authorization: "DENY"}}}
			},
			fields: []string{"routing.routes[0] (denied).topics"}, detail: "at least one topic is required",
		},
		{
			name: "route with a bad category and status",
			edit: func(c *topology.Config) {
				c.Routing.Routes = []route.OrderedRoute{{Match: route.Match{Category: "everything", Status: "OK"}, Topics: []string{"t"}}}
			},
			fields: []string{"routing.routes[0].match.category", "routing.routes[0].match.status"},
		},
		{
			name:   "destination no route sends to",
			edit:   func(c *topology.Config) { c.Routing.Destinations = map[string]route.Destination{"nowhere": {}} },
			fields: []string{`routing.destinations["nowhere"]`}, detail: "no route sends records to this topic",
		},
		{
			name: "missing router config file",
			edit: func(c *topology.Config) {
				c.Routing.RouterConfig = filepath.Join("testdata", "config", "no-such-router.json")
			},
			fields: []string{"routing.router_config"}, detail: "no-such-router.json",
		},
		{
			name: "bad principal",
			edit: func(c *topology.Config) {
				c.Principals = map[string]schemas.Identity{
					"User:ok": {Type: schemas.IdentityUser, ID: "u-1"},
					"User:x":  {Type: "robot", ID: "r-1"},
				}
			},
			fields: []string{`principals["User:x"]`}, detail: `type: "robot" is neither`,
		},
		{
			name: "principal with two problems names it on every line",
			edit: func(c *topology.Config) {
				c.Principals = map[string]schemas.Identity{"User:x": {Type: "robot"}}
			},
			fields: []string{`principals["User:x"]`, `principals["User:x"]`},
			// Validate formats Identity.Validate's joined error with %v, so
			// its second line ("id: must not be empty") names no field.
		},
		{
			name: "every field at once",
			edit: func(c *topology.Config) {
				c.Brokers = []string{"nope"}
				c.KafkaVersion = "x"
				c.HTTPAddr = "nope"
				c.LogTimeZone = "Nowhere/Nothing"
				c.Cluster.ID = ""
				c.Topics.Audit = "bad name"
				c.Audit.Categories = []string{"bogus"}
				c.Topics.Partitions = 0
				c.Topics.Replication = 0
			},
			fields: []string{
				"brokers[0]", "kafka_version", "http_addr", "log_time_zone", "cluster.id",
				"topics.audit", "audit.categories[0]", "topics.partitions", "topics.replication",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := topology.Defaults()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var named []string
			for _, line := range strings.Split(err.Error(), "\n") {
				field, _, ok := strings.Cut(line, ": ")
				require.True(t, ok, "error line %q does not start with a field", line)
				named = append(named, field)
			}
			require.Equal(t, tc.fields, named, "error: %v", err)
			if tc.detail != "" {
				require.ErrorContains(t, err, tc.detail)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	defaults := topology.Defaults()
	for _, tc := range []struct {
		name    string
		path    string // under testdata/config; "" passes ""
		want    func() topology.Config
		wantErr []string // substrings
	}{
		{name: "no file gives the defaults", path: "", want: topology.Defaults},
		{name: "an empty file gives the defaults", path: "empty.yaml", want: topology.Defaults},
		{
			name: "a partial file keeps the other defaults",
			path: "partial.yaml",
			want: func() topology.Config {
				c := topology.Defaults()
				c.Brokers = []string{"kafka:9092"}
				c.Cluster.ID = "lkc-partial"
				c.Topics.Audit = "audit-events"
				return c
			},
		},
		{
			name: "a short ttl caps the default batch age at a quarter of it",
			path: "short-ttl.yaml",
			want: func() topology.Config {
				c := topology.Defaults()
				c.Dedup.TTL, c.Dedup.BatchAge = time.Minute, 15*time.Second
				return c
			},
		},
		{
			name: "every field, other normalised to management",
			path: "full.yaml",
			want: func() topology.Config {
				return topology.Config{
					Brokers:      []string{"kafka-0.kafka:9092", "kafka-1.kafka:9092"},
					ClientID:     "kaudit-prod",
					KafkaVersion: "3.7.0",
					FetchBytes:   1 << 20,
					HTTPAddr:     "0.0.0.0:8080",
					StateDir:     "/var/lib/kaudit",
					LogTimeZone:  "Europe/Berlin",
					Cluster: topology.ClusterConfig{
						ID: "lkc-abc123", CRNAuthority: "confluent.cloud", Organization: "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
						Environment: "env-xyz", CloudCluster: "lkc-abc123",
					},
					Topics: topology.TopicsConfig{
						Raw: "broker-request-log", Rekeyed: "kaudit-prod-rekeyed", Requests: "kaudit-prod-requests", DeadLetter: "kaudit-prod-dead-letter",
						TopicIDs: "kaudit-prod-topic-ids", Directory: "kaudit-prod-principals", Config: "kaudit-prod-config",
						AccessByTopic: "kaudit-prod-access-by-topic", AccessByPrincipal: "kaudit-prod-access-by-principal",
						Audit: "confluent-audit-log-events_prod", Partitions: 12, Replication: 3, PurgeInterval: -time.Second,
					},
					Audit: topology.AuditConfig{Categories: []string{schemas.CatDescribe, schemas.CatManagement}},
					Dedup: topology.DedupConfig{TTL: 45 * time.Minute, BatchAge: 10 * time.Second, MaxBatching: 50_000},
					Input: topology.InputConfig{MaxLineBytes: 2 << 20},
					Routing: route.Config{
						Routes: []route.OrderedRoute{{
							Name: "denied", Match: route.Match{Authorization: "DENY", Category: "management"},
							Topics: []string{"confluent-audit-log-events_denied"}, StopProcessing: true,
						}},
						Destinations: map[string]route.Destination{
							"confluent-audit-log-events_denied": {Encoding: "binary", Key: "principal", RetentionMs: 604800000},
						},
					},
					Principals: map[string]schemas.Identity{
						"User:alice":     {Type: schemas.IdentityUser, ID: "u-abc123", Email: "alice@example.com"},
						"User:sa-orders": {Type: schemas.IdentityServiceAccount, ID: "sa-9xyz"},
					},
				}
			},
		},
		{
			name:    "unknown keys are rejected, naming the key, line and file",
			path:    "unknown_key.yaml",
			wantErr: []string{"unknown_key.yaml", "line 4", "field partitons not found"},
		},
		{
			name:    "a value of the wrong type is rejected",
			path:    "wrong_type.yaml",
			wantErr: []string{"wrong_type.yaml", "line 2", "twelve"},
		},
		{
			name:    "a missing file is an error",
			path:    "does-not-exist.yaml",
			wantErr: []string{"read config", "does-not-exist.yaml"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path != "" {
				path = filepath.Join("testdata", "config", path)
			}
			c, err := topology.LoadConfig(path)
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, s := range tc.wantErr {
					require.ErrorContains(t, err, s)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want(), c)
			require.NoError(t, c.Validate())
		})
	}
	require.Equal(t, defaults, topology.Defaults(), "Defaults must not be shared state")
}

// TestFetchBytesReachesSarama: every consumer kaudit makes is built from
// SaramaConfig, so fetch_bytes is what each fetch asks per partition.
func TestFetchBytesReachesSarama(t *testing.T) {
	c := topology.Defaults()
	require.EqualValues(t, 128<<10, c.SaramaConfig().Consumer.Fetch.Default)
	c.FetchBytes = 1 << 20
	require.EqualValues(t, 1<<20, c.SaramaConfig().Consumer.Fetch.Default)
}

func TestAudited(t *testing.T) {
	api := func(name string) schemas.API { return schemas.LookupAPI(name, false) }
	follower := schemas.LookupAPI("FETCH", true)
	for _, tc := range []struct {
		name       string
		categories []string
		audited    []schemas.API
		notAudited []schemas.API
	}{
		{
			name:       "no categories: Confluent Cloud's methods only",
			audited:    []schemas.API{api("PRODUCE"), api("FETCH"), api("CREATE_TOPICS"), api("DELETE_TOPICS"), api("INCREMENTAL_ALTER_CONFIGS"), api("DELETE_GROUPS")},
			notAudited: []schemas.API{api("METADATA"), api("HEARTBEAT"), api("OFFSET_COMMIT"), api("SASL_HANDSHAKE"), follower, api("ALTER_PARTITION_REASSIGNMENTS")},
		},
		{
			name:       "describe adds Metadata and DescribeConfigs",
			categories: []string{schemas.CatDescribe},
			audited:    []schemas.API{api("PRODUCE"), api("METADATA"), api("DESCRIBE_CONFIGS"), api("API_VERSIONS")},
			notAudited: []schemas.API{api("HEARTBEAT"), api("OFFSET_COMMIT"), follower},
		},
		{
			name:       "management adds every other admin API",
			categories: []string{schemas.CatManagement},
			audited:    []schemas.API{api("ALTER_PARTITION_REASSIGNMENTS"), api("ELECT_LEADERS"), api("CREATE_TOPICS")},
			notAudited: []schemas.API{api("METADATA")},
		},
		{
			name:       "interbroker audits follower fetches",
			categories: []string{schemas.CatInterbroker},
			audited:    []schemas.API{follower, api("FETCH")},
			notAudited: []schemas.API{api("HEARTBEAT")},
		},
		{
			name:       "consume and heartbeat",
			categories: []string{schemas.CatConsume, schemas.CatHeartbeat},
			audited:    []schemas.API{api("OFFSET_COMMIT"), api("JOIN_GROUP"), api("HEARTBEAT")},
			notAudited: []schemas.API{api("METADATA"), follower},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := topology.Defaults()
			c.Audit.Categories = tc.categories
			for _, a := range tc.audited {
				require.True(t, c.Audited(a), "%s (%s) should be audited", a.Method, a.Category)
			}
			for _, a := range tc.notAudited {
				require.False(t, c.Audited(a), "%s (%s) should not be audited", a.Method, a.Category)
			}
		})
	}
}
