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
	sc := c.SaramaConfig()
	client, err := sarama.NewClient(c.Brokers, sc)
	if err != nil {
		return nil, nil, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, nil, err
	}
	defer consumer.Close()
	parts, err := client.Partitions(c.Topics.Directory)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil, nil, nil // nothing was ever put
	}
	if err != nil {
		return nil, nil, err
	}
	current := map[string]*schemas.Identity{}
	for _, p := range parts {
		end, err := client.GetOffset(c.Topics.Directory, p, sarama.OffsetNewest)
		if err != nil {
			return nil, nil, err
		}
		start, err := client.GetOffset(c.Topics.Directory, p, sarama.OffsetOldest)
		if err != nil {
			return nil, nil, err
		}
		if start >= end {
			continue
		}
		pc, err := consumer.ConsumePartition(c.Topics.Directory, p, start)
		if err != nil {
			return nil, nil, err
		}
		for msg := range pc.Messages() {
			key := string(msg.Key)
			if msg.Value == nil {
				delete(current, key)
			} else if id, perr := directory.Parse(msg.Value); perr != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", key, perr))
			} else {
				current[key] = id
			}
			if msg.Offset >= end-1 {
				break
			}
		}
		if err := pc.Close(); err != nil {
			return nil, nil, err
		}
	}
	for p, id := range current {
		entries = append(entries, DirectoryEntry{Principal: p, Identity: *id})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Principal < entries[j].Principal })
	return entries, bad, nil
}
