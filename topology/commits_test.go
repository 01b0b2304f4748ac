package topology

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

func TestPendingOffsetsCommitInOrder(t *testing.T) {
	type step struct {
		done     int64
		wantNext int64 // -1: nothing to commit
	}
	for _, tc := range []struct {
		name      string
		delivered []int64
		steps     []step
	}{
		{"in order", []int64{5, 6, 7}, []step{{5, 6}, {6, 7}, {7, 8}}},
		{"a later one first waits", []int64{5, 6, 7}, []step{{7, -1}, {6, -1}, {5, 8}}},
		{"a failed one holds the rest", []int64{5, 6, 7}, []step{{6, -1}, {7, -1}}},
		{"gaps in offsets (compaction)", []int64{3, 9, 20}, []step{{9, -1}, {3, 10}, {20, 21}}},
		{"unknown and repeated marks", []int64{5}, []step{{4, -1}, {5, 6}, {5, -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p pendingOffsets
			for _, o := range tc.delivered {
				p.deliver(o)
			}
			for _, s := range tc.steps {
				next, ok := p.done(s.done)
				if s.wantNext < 0 {
					require.False(t, ok, "done(%d)", s.done)
					continue
				}
				require.True(t, ok, "done(%d)", s.done)
				require.Equal(t, s.wantNext, next, "done(%d)", s.done)
			}
		})
	}
}

// fakeSession records the offsets sarama would commit.
type fakeSession struct {
	sarama.ConsumerGroupSession
	ctx    context.Context
	marked []int64
}

func (f *fakeSession) Context() context.Context { return f.ctx }
func (f *fakeSession) MarkOffset(_ string, _ int32, next int64, _ string) {
	f.marked = append(f.marked, next)
}

type fakeClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (fakeClaim) Topic() string                              { return "raw" }
func (fakeClaim) Partition() int32                           { return 2 }
func (c fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

// The handler sees every message through the tracked claim, and its
// out-of-order marks reach sarama as in-order commits.
func TestOrderedHandlerCommitsOnlyFinishedPrefix(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{ctx: ctx}
	claim := fakeClaim{msgs: make(chan *sarama.ConsumerMessage, 3)}
	for _, o := range []int64{10, 11, 12} {
		claim.msgs <- &sarama.ConsumerMessage{Topic: "raw", Partition: 2, Offset: o}
	}
	close(claim.msgs)
	var got []*sarama.ConsumerMessage
	h := &orderedHandler{h: handlerFunc(func(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
		for m := range c.Messages() {
			got = append(got, m)
		}
		s.MarkMessage(got[2], "") // 12 done first: nothing committable
		s.MarkMessage(got[0], "") // 10: commit 11
		s.MarkMessage(got[1], "") // 11: 12 was done too, commit 13
		return nil
	})}
	require.NoError(t, h.Setup(sess))
	require.NoError(t, h.ConsumeClaim(sess, claim))
	require.Len(t, got, 3)
	require.Equal(t, []int64{11, 13}, sess.marked)
	require.NoError(t, h.Cleanup(sess))
}

type handlerFunc func(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error

func (handlerFunc) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (handlerFunc) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (f handlerFunc) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return f(s, c)
}
