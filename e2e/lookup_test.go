package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// TestTopicCatalogAndPrincipalDirectory checks both lookup tables end to
// end: a Fetch v16 names its topic only by id, which the catalog learned
// from an earlier CreateTopics response; the consumer's principal is in
// the directory. Both tables fill asynchronously, so the test sends Fetch
// requests on fresh connections until one record shows both resolved.
func TestTopicCatalogAndPrincipalDirectory(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cfg.Cluster.CRNAuthority = "confluent.cloud"
	startPipeline(t, cfg)
	require.NoError(t, topology.PutIdentity(&cfg, "User:billing-app", &schemas.Identity{Type: schemas.IdentityUser, ID: "u-billing", Email: "billing@example.com"}))

	const topicID = "Nw3xxZwVRceQiMGFMmRgCg"
	cl := newClient(t, b)
	admin := conn(900, "User:ops-admin")
	produceLines(t, cl, cfg.Topics.Raw, []string{demo.CreateTopics(t0, admin, 1, "orders", topicID, 0, "")})

	// Before anything is known, an unknown id stays an id.
	unknown := conn(901, "User:nobody")
	produceLines(t, cl, cfg.Topics.Raw, []string{demo.FetchByID(t0, unknown, 1, "UNKNOWNxxxxxxxxxxxxxxx", 0, 10)})

	seen := 2
	var last schemas.AuditData
	require.Eventually(t, func() bool {
		c := conn(1000+seen, "User:billing-app")
		produceLines(t, cl, cfg.Topics.Raw, []string{demo.FetchByID(t0, c, 1, topicID, 0, 100)})
		seen++
		recs := consumeN(t, b, cfg.Topics.Audit, seen, 0)
		for _, r := range recs {
			var ev struct {
				Subject string            `json:"subject"`
				Data    schemas.AuditData `json:"data"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &ev))
			if ev.Data.MethodName != "kafka.Fetch" || ev.Data.RequestMetadata.ConnectionID == unknown.ID {
				continue
			}
			last = ev.Data
			u := ev.Data.AuthenticationInfo.Principal.ConfluentUser
			if ev.Subject == "crn://confluent.cloud/kafka=kafka-cluster/topic=orders" && u != nil && u.ResourceID == "u-billing" {
				require.Equal(t, "orders", ev.Data.CloudResources[0].Resource.ResourceID)
				require.Equal(t, "billing@example.com", ev.Data.AuthenticationInfo.Principal.Email)
				return true
			}
		}
		return false
	}, 60*time.Second, 500*time.Millisecond, "no Fetch record resolved both topic and principal; last: %+v", last)

	// The unknown id was kept as the resource id, as Confluent's own
	// Fetch records do.
	recs := consumeN(t, b, cfg.Topics.Audit, seen, 0)
	found := false
	for _, r := range recs {
		var ev struct {
			Data schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		if ev.Data.RequestMetadata.ConnectionID == unknown.ID {
			require.Equal(t, "UNKNOWNxxxxxxxxxxxxxxx", ev.Data.CloudResources[0].Resource.ResourceID)
			found = true
		}
	}
	require.True(t, found, fmt.Sprintf("no record for %s", unknown.ID))
}
