package topology

import (
	"errors"
	"fmt"
	"sort"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// TopicPlan is what EnsureTopics made sure of.
type TopicPlan struct {
	// Partitions of the raw topic, and so of every co-partitioned topic.
	Partitions int
	// Replication used for topics kaudit created.
	Replication int
	// Created lists the topics that did not exist before.
	Created []string
}

// EnsureTopics creates the topics of the given group graphs and checks the
// ones that exist. goka creates only table topics, and it finds topics that
// are not co-partitioned only when a rebalance fails, so this does both up
// front with clear errors:
//   - the raw topic gets topics.partitions partitions if absent;
//   - every group input, loop and table must have the raw topic's partition
//     count (goka co-partitioning); tables are compacted;
//   - other outputs (dead letter, destinations) get topics.partitions.
func EnsureTopics(c *Config, graphs ...*goka.GroupGraph) (TopicPlan, error) {
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

	create := func(name string, partitions int, configs map[string]string) error {
		if _, ok := existing[name]; ok {
			return nil
		}
		entries := map[string]*string{}
		for k, v := range configs {
			entries[k] = &v
		}
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions: int32(partitions), ReplicationFactor: int16(plan.Replication), ConfigEntries: entries,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		existing[name] = sarama.TopicDetail{NumPartitions: int32(partitions)}
		plan.Created = append(plan.Created, name)
		return nil
	}

	if err := create(c.Topics.Raw, c.Topics.Partitions, nil); err != nil {
		return plan, err
	}
	plan.Partitions = int(existing[c.Topics.Raw].NumPartitions)

	copart := map[string]map[string]string{} // topic -> configs
	outputs := map[string]bool{}
	for _, g := range graphs {
		for _, e := range g.InputStreams() {
			copart[e.Topic()] = nil
		}
		if e := g.LoopStream(); e != nil {
			copart[e.Topic()] = nil
		}
		if e := g.GroupTable(); e != nil {
			copart[e.Topic()] = map[string]string{"cleanup.policy": "compact"}
		}
		for _, e := range g.OutputStreams() {
			outputs[e.Topic()] = true
		}
	}
	var errs []error
	for _, name := range sortedKeys(copart) {
		if err := create(name, plan.Partitions, copart[name]); err != nil {
			errs = append(errs, err)
			continue
		}
		if n := int(existing[name].NumPartitions); n != plan.Partitions {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions but must have %d, like raw topic %s: goka needs a group's topics co-partitioned",
				name, n, plan.Partitions, c.Topics.Raw))
		}
	}
	for _, name := range sortedKeys(outputs) {
		if _, inner := copart[name]; inner {
			continue
		}
		if err := create(name, c.Topics.Partitions, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return plan, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
