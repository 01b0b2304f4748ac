package schemas

import "strings"

// Router categories (FORMATS.md B.6). Every method belongs to exactly one.
const (
	CatManagement     = "management"
	CatAuthorize      = "authorize"
	CatAuthentication = "authentication"
	CatProduce        = "produce"
	CatConsume        = "consume"
	CatDescribe       = "describe"
	CatInterbroker    = "interbroker"
	CatHeartbeat      = "heartbeat"
)

// Categories lists every category, in Confluent's documentation order.
var Categories = []string{
	CatManagement, CatAuthorize, CatAuthentication, CatProduce,
	CatConsume, CatDescribe, CatInterbroker, CatHeartbeat,
}

// API is what kaudit knows about a request's API.
type API struct {
	// Method is the Confluent methodName, "kafka." + ApiKeys.name.
	Method string
	// Category is the router category of the method.
	Category string
	// Cloud marks Confluent Cloud's 13 request methods, audited by default.
	Cloud bool
}

// cloudMethods are the methods of Confluent Cloud's
// io.confluent.kafka.server/request events (seed 002).
var cloudMethods = map[string]bool{
	"kafka.Produce": true, "kafka.Fetch": true, "kafka.CreateTopics": true, "kafka.DeleteTopics": true,
	"kafka.CreatePartitions": true, "kafka.CreateAcls": true, "kafka.DeleteAcls": true,
	"kafka.DeleteGroups": true, "kafka.AlterConfigs": true, "kafka.IncrementalAlterConfigs": true,
	"kafka.AlterMirrors": true, "kafka.CreateClusterLinks": true, "kafka.DeleteClusterLinks": true,
}

// methodCategory holds the non-management categories of FORMATS.md B.6;
// every other method is management (Confluent's legacy "other").
var methodCategory = map[string]string{
	"kafka.Produce": CatProduce, "kafka.InitProducerId": CatProduce,
	"kafka.AddPartitionsToTxn": CatProduce, "kafka.EndTxn": CatProduce,

	"kafka.Fetch": CatConsume, "kafka.ListOffsets": CatConsume, "kafka.OffsetCommit": CatConsume,
	"kafka.OffsetFetch": CatConsume, "kafka.JoinGroup": CatConsume, "kafka.SyncGroup": CatConsume,
	"kafka.LeaveGroup": CatConsume, "kafka.AddOffsetsToTxn": CatConsume, "kafka.TxnOffsetCommit": CatConsume,
	"kafka.ConsumerGroupHeartbeat": CatConsume, "kafka.ShareFetch": CatConsume, "kafka.ShareAcknowledge": CatConsume,

	"kafka.DescribeAcls": CatDescribe, "kafka.DescribeConfigs": CatDescribe,
	"kafka.DescribeDelegationToken": CatDescribe, "kafka.DescribeGroups": CatDescribe,
	"kafka.DescribeLogDirs": CatDescribe, "kafka.FindCoordinator": CatDescribe, "kafka.ListGroups": CatDescribe,
	"kafka.ListPartitionReassignments": CatDescribe, "kafka.Metadata": CatDescribe,
	"kafka.OffsetForLeaderEpoch": CatDescribe, "kafka.ApiVersions": CatDescribe,
	"kafka.DescribeCluster": CatDescribe, "kafka.DescribeProducers": CatDescribe,
	"kafka.DescribeTransactions": CatDescribe, "kafka.ListTransactions": CatDescribe,
	"kafka.DescribeClientQuotas": CatDescribe, "kafka.DescribeUserScramCredentials": CatDescribe,
	"kafka.DescribeTopicPartitions": CatDescribe, "kafka.ConsumerGroupDescribe": CatDescribe,
	"kafka.GetTelemetrySubscriptions": CatDescribe,

	"kafka.FetchFollower": CatInterbroker, "kafka.ControlledShutdown": CatInterbroker,
	"kafka.LeaderAndIsr": CatInterbroker, "kafka.StopReplica": CatInterbroker,
	"kafka.UpdateMetadata": CatInterbroker, "kafka.WriteTxnMarkers": CatInterbroker,
	"kafka.BrokerHeartbeat": CatInterbroker, "kafka.BrokerRegistration": CatInterbroker,
	"kafka.Vote": CatInterbroker, "kafka.BeginQuorumEpoch": CatInterbroker,
	"kafka.EndQuorumEpoch": CatInterbroker, "kafka.DescribeQuorum": CatInterbroker,
	"kafka.AlterPartition": CatInterbroker, "kafka.FetchSnapshot": CatInterbroker,
	"kafka.Envelope": CatInterbroker,

	"kafka.Heartbeat": CatHeartbeat,

	"kafka.SaslHandshake": CatAuthentication, "kafka.SaslAuthenticate": CatAuthentication,
}

// MethodName turns Kafka's requestApiKeyName (CREATE_TOPICS) into the
// Confluent methodName (kafka.CreateTopics).
func MethodName(apiName string) string {
	var b strings.Builder
	b.WriteString("kafka.")
	for _, part := range strings.Split(apiName, "_") {
		if part == "" {
			continue
		}
		b.WriteString(part[:1])
		b.WriteString(strings.ToLower(part[1:]))
	}
	return b.String()
}

// LookupAPI describes the API of a logged request. Follower fetches are
// replication, not consumption: they keep the kafka.Fetch method but fall
// in the interbroker category and are not audited by default.
func LookupAPI(apiName string, followerFetch bool) API {
	m := MethodName(apiName)
	if m == "kafka.Fetch" && followerFetch {
		return API{Method: m, Category: CatInterbroker}
	}
	cat, ok := methodCategory[m]
	if !ok {
		cat = CatManagement
	}
	return API{Method: m, Category: cat, Cloud: cloudMethods[m]}
}

// LookupMethod describes a Confluent methodName (kafka.CreateTopics).
// kafka.FetchFollower, Confluent Platform's name for follower fetches, is
// interbroker.
func LookupMethod(method string) API {
	cat, ok := methodCategory[method]
	if !ok {
		cat = CatManagement
	}
	return API{Method: method, Category: cat, Cloud: cloudMethods[method]}
}

// NormalizeCategory maps Confluent's legacy "other" to management and
// reports whether the name is a category.
func NormalizeCategory(c string) (string, bool) {
	if c == "other" {
		return CatManagement, true
	}
	for _, k := range Categories {
		if c == k {
			return c, true
		}
	}
	return c, false
}
