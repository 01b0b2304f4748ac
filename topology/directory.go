package topology

import (
	"errors"
	"fmt"
	"sort"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/processors/directory"
	"github.com/kaudit/kaudit/schemas"
)

// PutIdentity writes a principal-directory entry; a nil identity writes a
// tombstone, which removes the entry. The directory topic is created
// (compacted) if needed.
func PutIdentity(c *Config, principal string, id *schemas.Identity) error {
	if principal == "" {
		return errors.New("principal must not be empty")
	}
	var value sarama.Encoder
	if id != nil {
		if err := id.Validate(); err != nil {
			return fmt.Errorf("principal %s: %w", principal, err)
		}
		raw, err := (&schemas.IdentityCodec{}).Encode(id)
		if err != nil {
			return err
		}
		value = sarama.ByteEncoder(raw)
	}
	if _, err := EnsureTopics(c, nil, DirectoryGraph(c.Streams())); err != nil {
		return err
	}
	sc := c.SaramaConfig()
	sc.Producer.Return.Successes = true
	// Hash keys as goka does, so that a directory with more than the one
	// default partition still puts each principal where its table expects.
	sc.Producer.Partitioner = sarama.NewCustomHashPartitioner(goka.DefaultHasher())
	prod, err := sarama.NewSyncProducer(c.Brokers, sc)
	if err != nil {
		return err
	}
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: c.Topics.Directory, Key: sarama.StringEncoder(principal), Value: value})
	return errors.Join(err, prod.Close())
}

// DirectoryEntry is one listed directory entry.
type DirectoryEntry struct {
	Principal string
	Identity  schemas.Identity
}

// ListIdentities reads the directory topic from the start to its end and
// returns the current entry of every principal, sorted by principal.
// Entries that would be dead-lettered by the pipeline are reported in bad.
func ListIdentities(c *Config) (entries []DirectoryEntry, bad []string, err error) {
	latest, err := readCompacted(c, c.Topics.Directory)
	if err != nil {
		return nil, nil, err
	}
	for p, value := range latest {
		id, perr := directory.Parse(value)
		if perr != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p, perr))
			continue
		}
		entries = append(entries, DirectoryEntry{Principal: p, Identity: *id})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Principal < entries[j].Principal })
	sort.Strings(bad)
	return entries, bad, nil
}

// readCompacted reads a keyed topic from its start to its current end and
// returns the latest value of every key; tombstones remove keys. A missing
// topic reads as empty.
func readCompacted(c *Config, topic string) (map[string][]byte, error) {
	client, err := sarama.NewClient(c.Brokers, c.SaramaConfig())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	latest := map[string][]byte{}
	for _, p := range parts {
		if err := readPartition(client, consumer, topic, p, latest); err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
	}
	return latest, nil
}

func readPartition(client sarama.Client, consumer sarama.Consumer, topic string, p int32, latest map[string][]byte) error {
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return err
	}
	start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil || start >= end {
		return err
	}
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		return err
	}
	for msg := range pc.Messages() {
		if msg.Value == nil {
			delete(latest, string(msg.Key))
		} else {
			latest[string(msg.Key)] = msg.Value
		}
		if msg.Offset >= end-1 {
			break
		}
	}
	return pc.Close()
}
