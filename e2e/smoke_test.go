package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

func TestSmoke(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	startPipeline(t, cfg)

	t0 := time.Date(2024, 10, 25, 9, 14, 3, 0, time.UTC)
	c := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.0.1.23", 51544, 17), Principal: "User:orders-svc", ClientID: "orders-producer", Software: "apache-kafka-java/3.8.0"}
	lines := []string{
		demo.Produce(t0, c, 1, "orders", 0, 100),
		demo.Produce(t0, c, 2, "orders", 0, 100),
		demo.CreateTopics(t0, c, 3, "payments", "Nw3xxZwVRceQiMGFMmRgCg", 0, ""),
		"garbage",
	}
	cl := newClient(t, b)
	produceLines(t, cl, cfg.Topics.Raw, lines)
	recs := consumeN(t, b, cfg.Topics.Audit, 2, 2*time.Second)
	require.Len(t, recs, 2)
	for _, r := range recs {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		t.Logf("%s", r.Value)
	}
	dlq := consumeN(t, b, cfg.Topics.DeadLetter, 1, time.Second)
	require.Len(t, dlq, 1)
}
