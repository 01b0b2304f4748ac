package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// legacyLoop is the dedup group's goka loop topic. Before the re-key group
// existed, kaudit-dedup read the raw topic itself and sent requests to its
// table through this topic; kaudit no longer writes it.
const legacyLoop = string(DedupGroup) + "-loop"

// drains are the topics of older layouts that a start found and that the
// pipeline reads until they are deleted, so that nothing on them is lost.
type drains struct {
	// loop is kaudit-dedup-loop: requests for the dedup table.
	loop bool
	// requests is the requests topic: requests the dedup group kept, for
	// the audit group, before the re-key and dedup groups audited them.
	requests bool
}

// upgrade carries a deployment from older layouts over, and reports which
// of their topics exist, so that the pipeline drains them.
//
// From the layout where kaudit-dedup read the raw topic itself, it hands
// kaudit-dedup's committed raw offsets to kaudit-rekey, then deletes them,
// so that the new group neither reads the raw topic again from its start
// nor skips lines. Each start repeats what a stopped one left undone. It
// waits for the members of kaudit-dedup that read the raw topic to leave,
// and refuses to go on if one stays: an older kaudit that is still running
// would share the lines with the new group. Stop every old instance first;
// replays of the lines since the last commit are what the record ids are
// built for.
//
// The requests topic needs no such care: the audit group reads it wherever
// it exists, including what an older instance still running sends.
func upgrade(ctx context.Context, c *Config, log *slog.Logger) (d drains, err error) {
	client, err := sarama.NewClient(c.Brokers, c.SaramaConfig())
	if err != nil {
		return d, fmt.Errorf("connect to %v: %w", c.Brokers, err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return d, fmt.Errorf("connect to %v: %w", c.Brokers, err)
	}
	// The admin uses the client, whose Close above ends both.
	topics, err := admin.ListTopics()
	if err != nil {
		return d, fmt.Errorf("list topics: %w", err)
	}
	d = drainsIn(topics, c)
	if d.requests {
		log.Info("draining the requests topic of an earlier kaudit; delete it once group "+
			string(AuditGroup)+" has no lag on it and no older instance runs", "topic", c.Topics.Requests)
	}
	if !d.loop {
		return d, nil // never ran the loop layout
	}
	log.Info("draining the loop topic of an earlier kaudit; delete it once group "+
		string(DedupGroup)+" has no lag on it", "topic", legacyLoop)
	raw := c.Topics.Raw
	if _, ok := topics[raw]; !ok {
		return d, nil // no raw topic, no offsets on it
	}
	parts, err := client.Partitions(raw)
	if err != nil {
		return d, fmt.Errorf("partitions of %s: %w", raw, err)
	}
	// Twice the session timeout: the old kaudit used the same one.
	if err := waitOldMembers(ctx, admin, raw, 2*client.Config().Consumer.Group.Session.Timeout, log); err != nil {
		return d, err
	}
	old, err := committed(admin, string(DedupGroup), raw, parts)
	if err != nil || len(old) == 0 {
		return d, err // nothing (left) to carry over
	}
	have, err := committed(admin, string(RekeyGroup), raw, parts)
	if err != nil {
		return d, err
	}
	// kaudit-dedup's offsets win where they are ahead: a first upgrade, or
	// one after going back to the older kaudit for a while. Equal ones were
	// carried over by a start that stopped before the deletion below.
	ahead := map[int32]int64{}
	for p, o := range old {
		if h, ok := have[p]; !ok || o > h {
			ahead[p] = o
		}
	}
	if len(ahead) > 0 {
		if err := commitOffsets(client, string(RekeyGroup), raw, ahead); err != nil {
			return d, err
		}
		log.Info("carried the raw topic's committed offsets over to the re-key group",
			"from", DedupGroup, "to", RekeyGroup, "topic", raw, "partitions", len(ahead))
	}
	// Stale offsets would show kaudit-dedup lagging on the raw topic.
	for p := range old {
		if err := admin.DeleteConsumerGroupOffset(string(DedupGroup), raw, p); err != nil {
			log.Warn("could not delete an old committed offset; it expires with the broker's offsets.retention.minutes",
				"group", DedupGroup, "topic", raw, "partition", p, "err", err)
		}
	}
	return d, nil
}

// drainsIn reports which topics of older layouts topics holds.
func drainsIn(topics map[string]sarama.TopicDetail, c *Config) drains {
	_, loop := topics[legacyLoop]
	_, requests := topics[c.Topics.Requests]
	return drains{loop: loop, requests: requests}
}

// still returns the drains whose topics are still there, from one listing
// of the topics; when the brokers cannot tell, it keeps them all, which
// changes nothing.
func (d drains) still(c *Config) drains {
	if d == (drains{}) {
		return d
	}
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.SaramaConfig())
	if err != nil {
		return d
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return d
	}
	now := drainsIn(topics, c)
	return drains{loop: d.loop && now.loop, requests: d.requests && now.requests}
}

// committed returns group's committed offsets on topic's partitions,
// leaving out the partitions it has none on.
func committed(admin sarama.ClusterAdmin, group, topic string, parts []int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	r, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if err == nil && r.Err != sarama.ErrNoError {
		err = r.Err
	}
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return out, nil // Kafka answers -1 offsets, some brokers (kfake) this
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	for p, b := range r.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p, b.Err)
		}
		if b.Offset >= 0 {
			out[p] = b.Offset
		}
	}
	return out, nil
}

// waitOldMembers returns once no member of the dedup group subscribes to
// the raw topic, as kaudit did before the re-key group, and fails if one
// still does after wait. An instance that crashed stays a member until
// its session times out; one that still runs never leaves.
func waitOldMembers(ctx context.Context, admin sarama.ClusterAdmin, raw string, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	for logged := false; ; logged = true {
		old, err := oldMember(admin, raw)
		if err != nil || old == "" {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s has a member (%s) that reads %s: an older kaudit is still running; "+
				"stop every instance of it before starting this version", DedupGroup, old, raw)
		}
		if !logged {
			log.Info("waiting for a member of an older kaudit to leave; a stopped instance's membership ends with its session",
				"group", DedupGroup, "member", old, "up_to", wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// oldMember describes a member of the dedup group that subscribes to the
// raw topic, or returns "" if there is none.
func oldMember(admin sarama.ClusterAdmin, raw string) (string, error) {
	groups, err := admin.DescribeConsumerGroups([]string{string(DedupGroup)})
	if err != nil {
		return "", fmt.Errorf("describe group %s: %w", DedupGroup, err)
	}
	for _, g := range groups {
		for id, m := range g.Members {
			md, err := m.GetMemberMetadata()
			if err != nil || md == nil {
				continue // not a consumer's subscription
			}
			if slices.Contains(md.Topics, raw) {
				return id + ", " + m.ClientHost, nil
			}
		}
	}
	return "", nil
}

// commitOffsets commits offsets for a group that has no members, as
// kafka-consumer-groups --reset-offsets does (generation -1). sarama's
// admin has no call for it.
func commitOffsets(client sarama.Client, group, topic string, offsets map[int32]int64) error {
	broker, err := client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("coordinator of group %s: %w", group, err)
	}
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	for p, o := range offsets {
		req.AddBlock(topic, p, o, 0, "")
	}
	resp, err := broker.CommitOffset(req)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	var errs []error
	for p, kerr := range resp.Errors[topic] {
		if kerr != sarama.ErrNoError {
			errs = append(errs, fmt.Errorf("commit offset of group %s on %s/%d: %w", group, topic, p, kerr))
		}
	}
	return errors.Join(errs...)
}
