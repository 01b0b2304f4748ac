package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology/embedded"
)

// TestYardsticksProcessEveryLine runs the sarama copy and both goka
// yardsticks over a small preloaded workload on the embedded broker: each
// must report every line, and the copies must be on their topics.
func TestYardsticksProcessEveryLine(t *testing.T) {
	const lines = 3000
	br, err := embedded.Start(embedded.Options{CleanerBackoff: time.Hour})
	require.NoError(t, err)
	defer br.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := newProducer(br.Bootstrap(), rawTopic, 5*time.Millisecond)
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, createTopics(ctx, cl, partitions, rawTopic, copyTopic, gokaTopic))
	_, err = preload(ctx, newSender(cl, NewGenerator(Workload{Connections: 500})), lines)
	require.NoError(t, err)

	holds := func(topic string) int64 {
		n, err := held(ctx, cl, topic)
		require.NoError(t, err)
		return n
	}

	b, err := runBaseline(ctx, br.Addrs(), rawTopic, copyTopic, baselineGroup, lines, time.Minute)
	require.NoError(t, err)
	require.EqualValues(t, lines, b.Lines)
	require.Positive(t, b.Elapsed)
	require.EqualValues(t, lines, holds(copyTopic))

	for _, y := range []gokaYardstick{gokaTrivial, gokaRead} {
		g, err := runGoka(ctx, br.Addrs(), rawTopic, y, lines, time.Minute)
		require.NoError(t, err, y.group)
		require.EqualValues(t, lines, g.Lines, y.group)
		require.Positive(t, g.Elapsed, y.group)
	}
	require.EqualValues(t, lines, holds(gokaTopic))
}

// TestGokaYardstickGivesUp: a yardstick that cannot finish (fewer lines
// than asked for) stops at its timeout and says how far it got.
func TestGokaYardstickGivesUp(t *testing.T) {
	br, err := embedded.Start(embedded.Options{CleanerBackoff: time.Hour})
	require.NoError(t, err)
	defer br.Close()
	ctx := context.Background()
	cl, err := newProducer(br.Bootstrap(), rawTopic, 5*time.Millisecond)
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, createTopics(ctx, cl, partitions, rawTopic))
	_, err = preload(ctx, newSender(cl, NewGenerator(Workload{Connections: 50})), 1000)
	require.NoError(t, err)

	g, err := runGoka(ctx, br.Addrs(), rawTopic, gokaRead, 1001, 10*time.Second)
	require.ErrorContains(t, err, "done with 1000 of 1001 lines")
	require.EqualValues(t, 1000, g.Lines)
}
