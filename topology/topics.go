package topology

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// TopicPlan is what EnsureTopics made sure of.
type TopicPlan struct {
	// Partitions of the dedup table, and so of the rekeyed stream.
	Partitions int
	// Replication used for topics kaudit created.
	Replication int
	// Created lists the topics that did not exist before.
	Created []string
}

// TopicConfigs are per-topic configs for topics kaudit creates; every
// topic named here is created even if no graph names it.
type TopicConfigs map[string]map[string]string

// EnsureTopics creates the topics of the given group graphs and checks the
// ones that exist. goka creates only table topics, and it finds topics that
// are not co-partitioned only when a rebalance fails, so this does both up
// front with clear errors. Per group, the first input leads: it is created
// if absent, with the count of the group's table or loop if one exists
// (an upgrade adds a lead to a kept table), else its configured count; the
// group's other inputs, loop and table must have the lead's count. Outputs
// that no group reads are created with topics.partitions. Tables, the
// directory and the topic-id stream are compacted.
func EnsureTopics(c *Config, extra TopicConfigs, graphs ...*goka.GroupGraph) (TopicPlan, error) {
	sc := c.SaramaConfig()
	admin, err := sarama.NewClusterAdmin(c.Brokers, sc)
	if err != nil {
		return TopicPlan{}, fmt.Errorf("connect to %v: %w", c.Brokers, err)
	}
	defer admin.Close()

	existing, err := admin.ListTopics()
	if err != nil {
		return TopicPlan{}, fmt.Errorf("list topics: %w", err)
	}
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return TopicPlan{}, fmt.Errorf("describe cluster: %w", err)
	}
	plan := TopicPlan{Replication: c.Topics.Replication}
	if plan.Replication < 0 {
		// Resolve the broker default ourselves: older CreateTopics versions
		// reject -1, and three replicas cannot exist on a smaller cluster.
		plan.Replication = min(3, len(brokers))
	}
	if plan.Replication > len(brokers) {
		return plan, fmt.Errorf("topics.replication: %d replicas requested, the cluster has %d brokers", plan.Replication, len(brokers))
	}

	tables := map[string]bool{}
	for _, g := range graphs {
		if t := g.GroupTable(); t != nil {
			tables[t.Topic()] = true
		}
	}
	// ensure creates a missing topic, or checks the configs of an existing
	// one, and returns the partition count. A topic named by several
	// groups is created or checked once.
	checked := map[string]bool{}
	ensure := func(name string, partitions int) (int, error) {
		if d, ok := existing[name]; ok {
			if !checked[name] {
				checked[name] = true // one error, not one per group
				if err := checkConfigs(admin, name, tables[name] || c.compacted(name), extra[name]); err != nil {
					return 0, err
				}
			}
			return int(d.NumPartitions), nil
		}
		entries := map[string]*string{}
		for k, v := range extra[name] {
			entries[k] = &v
		}
		if tables[name] || c.compacted(name) {
			compact := "compact"
			entries["cleanup.policy"] = &compact
		}
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions: int32(partitions), ReplicationFactor: int16(plan.Replication), ConfigEntries: entries,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return 0, fmt.Errorf("create topic %s: %w", name, err)
		}
		existing[name] = sarama.TopicDetail{NumPartitions: int32(partitions)}
		checked[name] = true // created with the configs it needs
		plan.Created = append(plan.Created, name)
		return partitions, nil
	}

	var errs []error
	for _, g := range graphs {
		inputs := g.InputStreams()
		if len(inputs) == 0 {
			continue
		}
		lead := inputs[0].Topic()
		var state []string // the group's loop and table
		for _, e := range []goka.Edge{g.LoopStream(), g.GroupTable()} {
			if e != nil {
				state = append(state, e.Topic())
			}
		}
		want := c.partitionsFor(lead)
		for _, name := range state {
			if d, ok := existing[name]; ok {
				want = int(d.NumPartitions)
				break
			}
		}
		n, err := ensure(lead, want)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if g.Group() == DedupGroup {
			plan.Partitions = n
		}
		var copart []string
		for _, e := range inputs[1:] {
			copart = append(copart, e.Topic())
		}
		for _, name := range append(copart, state...) {
			got, err := ensure(name, n)
			if err != nil {
				errs = append(errs, err)
			} else if got != n {
				errs = append(errs, fmt.Errorf("topic %s has %d partitions but must have %d, like %s: goka needs a group's topics co-partitioned",
					name, got, n, lead))
			}
		}
	}
	for _, g := range graphs {
		for _, e := range g.OutputStreams() {
			if _, err := ensure(e.Topic(), c.partitionsFor(e.Topic())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for name := range extra {
		if _, err := ensure(name, c.partitionsFor(name)); err != nil {
			errs = append(errs, err)
		}
	}
	return plan, errors.Join(errs...)
}

// checkConfigs verifies an existing topic: state topics (tables, the
// directory, topic ids, kaudit's config) must be compacted, or deleted
// entries would come back and old state expire; routed destinations must
// have the retention the routing config asks for. Errors say how to fix.
func checkConfigs(admin sarama.ClusterAdmin, topic string, compact bool, want map[string]string) error {
	names := []string{"cleanup.policy"}
	for k := range want {
		names = append(names, k)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: names})
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = e.Value
	}
	var errs []error
	if compact && !strings.Contains(got["cleanup.policy"], "compact") {
		errs = append(errs, fmt.Errorf("topic %s has cleanup.policy=%s, but kaudit keeps state in it and needs compact: "+
			"kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact", topic, got["cleanup.policy"], topic))
	}
	for k, v := range want {
		if have, ok := got[k]; ok && have != v {
			errs = append(errs, fmt.Errorf("topic %s has %s=%s, but the routing config asks for %s: change the topic "+
				"(kafka-configs --alter --entity-type topics --entity-name %s --add-config %s=%s) or the routing config", topic, k, have, v, topic, k, v))
		}
	}
	return errors.Join(errs...)
}

// partitionsFor is the partition count of a topic kaudit creates. The
// directory gets one partition: people write it with any client, whose
// partitioner would not match goka's, and one partition makes every
// producer's choice the right one.
func (c *Config) partitionsFor(topic string) int {
	if topic == c.Topics.Directory || topic == c.Topics.Config {
		return 1
	}
	return c.Topics.Partitions
}

// compacted reports whether a stream is keyed state rather than events:
// the principal directory (latest entry per principal) and the harvested
// topic ids (latest name per id).
func (c *Config) compacted(topic string) bool {
	return topic == c.Topics.Directory || topic == c.Topics.TopicIDs || topic == c.Topics.Config
}
