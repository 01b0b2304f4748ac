package enrich

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

var testCluster = Cluster{ID: "lkc-1", CRNAuthority: "confluent.cloud", Organization: "org-1", Environment: "env-1", CloudCluster: "lkc-1"}

// line builds a parsed request-log record the way ParseLine sees a bare
// JSON line; principal and connection are fixed unless the test needs
// others.
func line(t *testing.T, apiName string, apiKey, version int, req, resp string) *schemas.RequestLog {
	t.Helper()
	raw := fmt.Sprintf(`{"requestHeader":{"requestApiKey":%d,"requestApiVersion":%d,"correlationId":7,"clientId":"cli","requestApiKeyName":%q},`+
		`"request":%s,"response":%s,"connection":"10.0.0.1:9092-192.0.2.7:50000-3","principal":"User:alice","listener":"EXTERNAL"}`,
		apiKey, version, apiName, req, resp)
	r, err := schemas.ParseLine([]byte(raw), schemas.ParseOptions{Cluster: "lkc-1", Fallback: time.Unix(1700000000, 0)})
	require.NoError(t, err)
	return r
}

// audit is one record's data, with request.data and result.data as the
// exact bytes kaudit wrote.
type audit struct {
	schemas.AuditData
	Route schemas.RouteInfo
}

func enrichAll(t *testing.T, r *schemas.RequestLog, c Cluster, l Lookups) []audit {
	t.Helper()
	recs, err := Enrich(r, c, l)
	require.NoError(t, err)
	out := make([]audit, len(recs))
	for i, rec := range recs {
		require.NoError(t, json.Unmarshal(rec.Event.Data(), &out[i].AuditData))
		out[i].Route = rec.Route
	}
	return out
}

func TestCloudMethodsAllMapped(t *testing.T) {
	for _, api := range []string{
		"PRODUCE", "FETCH", "CREATE_TOPICS", "DELETE_TOPICS", "CREATE_PARTITIONS", "CREATE_ACLS", "DELETE_ACLS",
		"DELETE_GROUPS", "ALTER_CONFIGS", "INCREMENTAL_ALTER_CONFIGS", "ALTER_MIRRORS", "CREATE_CLUSTER_LINKS", "DELETE_CLUSTER_LINKS",
	} {
		require.Contains(t, methods, api)
		require.True(t, schemas.LookupAPI(api, false).Cloud, api)
	}
	require.Len(t, methods, 13)
}

func TestMultiResourceRequests(t *testing.T) {
	tests := []struct {
		name     string
		r        *schemas.RequestLog
		l        Lookups
		resType  string
		names    []string
		requests []string
		results  []string
	}{
		{
			name: "create topics, one per topic, sensitive config masked",
			r: line(t, "CREATE_TOPICS", 19, 7,
				`{"topics":[{"name":"a","numPartitions":1,"replicationFactor":3,"assignments":[],"configs":[{"name":"retention.ms","value":"1"},{"name":"sasl.jaas.config","value":"secret!"}]},{"name":"b","numPartitions":-1,"replicationFactor":-1,"assignments":[],"configs":null}],"timeoutMs":1,"validateOnly":true}`,
				`{"throttleTimeMs":0,"topics":[{"name":"a","topicId":"x","errorCode":0,"errorMessage":null},{"name":"b","topicId":"AAAAAAAAAAAAAAAAAAAAAA","errorCode":36,"errorMessage":"Topic 'b' already exists."}]}`),
			resType: ResTopic, names: []string{"a", "b"},
			requests: []string{
				`{"name":"a","numPartitions":1,"replicationFactor":3,"assignments":[],"configs":[{"name":"retention.ms","value":"1"},{"name":"sasl.jaas.config","value":"[hidden]"}],"validateOnly":true}`,
				`{"name":"b","numPartitions":-1,"replicationFactor":-1,"assignments":[],"configs":[],"validateOnly":true}`,
			},
			results: []string{
				`{"message":null,"errorCode":0,"errorType":"NONE"}`,
				`{"message":"Topic 'b' already exists.","errorCode":36,"errorType":"TOPIC_ALREADY_EXISTS"}`,
			},
		},
		{
			name: "delete groups (FORMATS.md A.9 line), one per group, message always empty",
			r: line(t, "DELETE_GROUPS", 42, 2, `{"groupsNames":["billing-app","old-group"]}`,
				`{"throttleTimeMs":0,"results":[{"groupId":"billing-app","errorCode":0},{"groupId":"old-group","errorCode":69}]}`),
			resType: ResGroup, names: []string{"billing-app", "old-group"},
			requests: []string{`{"groupName":"billing-app"}`, `{"groupName":"old-group"}`},
			results: []string{
				`{"message":"","errorCode":0,"errorType":"NONE"}`,
				`{"message":"","errorCode":69,"errorType":"GROUP_ID_NOT_FOUND"}`,
			},
		},
		{
			name: "create partitions with assignments",
			r: line(t, "CREATE_PARTITIONS", 37, 3, `{"topics":[{"name":"a","count":6,"assignments":[{"brokerIds":[1,2]}]},{"name":"b","count":3,"assignments":null}],"timeoutMs":1,"validateOnly":false}`,
				`{"throttleTimeMs":0,"results":[{"name":"a","errorCode":0,"errorMessage":null},{"name":"b","errorCode":37,"errorMessage":"The topic b currently has 6 partition(s); 3 would not be an increase."}]}`),
			resType: ResTopic, names: []string{"a", "b"},
			requests: []string{
				`{"name":"a","count":6,"assignments":[{"brokerIds":[1,2]}],"validateOnly":false}`,
				`{"name":"b","count":3,"assignments":null,"validateOnly":false}`,
			},
			results: []string{
				`{"message":null,"errorCode":0,"errorType":"NONE"}`,
				`{"message":"The topic b currently has 6 partition(s); 3 would not be an increase.","errorCode":37,"errorType":"INVALID_PARTITIONS"}`,
			},
		},
		{
			name: "delete topics v6 by id: named by the response, by the catalog, or not",
			r: line(t, "DELETE_TOPICS", 20, 6, `{"topics":[{"name":null,"topicId":"new"},{"name":null,"topicId":"known"},{"name":null,"topicId":"unknown"}],"timeoutMs":1}`,
				`{"throttleTimeMs":0,"responses":[{"name":"payments","topicId":"new","errorCode":0,"errorMessage":null},{"name":null,"topicId":"known","errorCode":0,"errorMessage":null},{"name":null,"topicId":"unknown","errorCode":100,"errorMessage":"This server does not host this topic ID."}]}`),
			l: Lookups{TopicName: func(cluster, id string) (string, bool) {
				return "orders", cluster == "lkc-1" && id == "known"
			}},
			resType: ResTopic, names: []string{"payments", "orders", "unknown"},
			requests: []string{`{"name":"payments"}`, `{"name":"orders"}`, `{"name":"unknown"}`},
			results: []string{
				`{"message":null,"errorCode":0,"errorType":"NONE"}`,
				`{"message":null,"errorCode":0,"errorType":"NONE"}`,
				`{"message":null,"errorCode":100,"errorType":"UNKNOWN_TOPIC_ID"}`,
			},
		},
		{
			name:    "delete topics v5 by name",
			r:       line(t, "DELETE_TOPICS", 20, 5, `{"topicNames":["a"],"timeoutMs":1}`, `{"throttleTimeMs":0,"responses":[{"name":"a","errorCode":73,"errorMessage":null}]}`),
			resType: ResTopic, names: []string{"a"},
			requests: []string{`{"name":"a"}`},
			results:  []string{`{"message":null,"errorCode":73,"errorType":"TOPIC_DELETION_DISABLED"}`},
		},
		{
			name: "create cluster links without linkId, link credentials masked",
			r: line(t, "CREATE_CLUSTER_LINKS", 10002, 0,
				`{"entries":[{"linkName":"l1","clusterId":"src","configs":[{"key":"sasl.jaas.config","value":"org.apache.kafka.common.security.plain.PlainLoginModule required username=\"k\" password=\"s\";"},{"key":"bootstrap.servers","value":"h:9092"}]},{"linkName":"l2","clusterId":null,"configs":[]}],"validateOnly":false,"validateLink":true,"timeoutMs":1}`,
				`{"throttleTimeMs":0,"entries":[{"errorCode":0,"errorMessage":null,"linkName":"l1","linkId":"newid"},{"errorCode":10000,"errorMessage":null,"linkName":"l2"}]}`),
			resType: ResClusterLink, names: []string{"l1", "l2"},
			requests: []string{
				`{"linkName":"l1","linkId":"AAAAAAAAAAAAAAAAAAAAAA","clusterId":"src","configs":[{"key":"sasl.jaas.config","value":"[hidden]"},{"key":"bootstrap.servers","value":"h:9092"}],"validateOnly":false,"validateLink":true}`,
				`{"linkName":"l2","linkId":"AAAAAAAAAAAAAAAAAAAAAA","clusterId":null,"configs":[],"validateOnly":false,"validateLink":true}`,
			},
			results: []string{
				`{"message":"","errorCode":0,"errorType":"NONE","linkName":"l1","linkId":"newid"}`,
				`{"message":"","errorCode":10000,"errorType":"CLUSTER_LINK_NOT_FOUND","linkName":"l2","linkId":"AAAAAAAAAAAAAAAAAAAAAA"}`,
			},
		},
		{
			name: "delete cluster links, one per name",
			r: line(t, "DELETE_CLUSTER_LINKS", 10004, 0, `{"linkNames":["l1","l2"],"validateOnly":true,"force":true}`,
				`{"throttleTimeMs":0,"entries":[{"errorCode":0,"errorMessage":null,"linkName":"l1"},{"errorCode":10000,"errorMessage":"Cluster link 'l2' does not exist.","linkName":"l2"}]}`),
			resType: ResClusterLink, names: []string{"l1", "l2"},
			requests: []string{`{"linkName":"l1","validateOnly":true,"force":true}`, `{"linkName":"l2","validateOnly":true,"force":true}`},
			results: []string{
				`{"message":"","errorCode":0,"errorType":"NONE"}`,
				`{"message":"Cluster link 'l2' does not exist.","errorCode":10000,"errorType":"CLUSTER_LINK_NOT_FOUND"}`,
			},
		},
		{
			name: "produce, two topics, first partition error decides",
			r: line(t, "PRODUCE", 0, 11, `{"transactionalId":null,"acks":-1,"timeoutMs":1,"topicData":[{"name":"a","partitionData":[{"index":0,"recordsSizeInBytes":1}]},{"name":"b","partitionData":[{"index":0,"recordsSizeInBytes":1},{"index":1,"recordsSizeInBytes":1}]}]}`,
				`{"responses":[{"name":"a","partitionResponses":[{"index":0,"errorCode":0}]},{"name":"b","partitionResponses":[{"index":0,"errorCode":0},{"index":1,"errorCode":19}]}],"throttleTimeMs":0}`),
			resType: ResTopic, names: []string{"a", "b"},
			requests: []string{`{"topic":"a","partition":null}`, `{"topic":"b","partition":null}`},
			results: []string{
				`{"offset":null,"message":null,"errorCode":0,"errorType":"NONE"}`,
				`{"offset":null,"message":null,"errorCode":19,"errorType":"NOT_ENOUGH_REPLICAS"}`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := enrichAll(t, tc.r, testCluster, tc.l)
			require.Len(t, recs, len(tc.names))
			for i, rec := range recs {
				require.Equal(t, tc.resType, rec.CloudResources[0].Resource.Type)
				require.Equal(t, tc.names[i], rec.CloudResources[0].Resource.ResourceID)
				require.Equal(t, tc.requests[i], string(rec.Request.Data))
				require.Equal(t, tc.results[i], string(rec.Result.Data))
			}
		})
	}
}

func TestClusterRecords(t *testing.T) {
	tests := []struct {
		name          string
		r             *schemas.RequestLog
		request       string
		result        string
		status, authz string
	}{
		{
			name: "create acls v0 has no pattern type: literal",
			r: line(t, "CREATE_ACLS", 30, 0, `{"creations":[{"resourceType":4,"resourceName":"kafka-cluster","principal":"User:x","host":"*","operation":2,"permissionType":2}]}`,
				`{"throttleTimeMs":0,"results":[{"errorCode":0,"errorMessage":null}]}`),
			request: `{"creations":[{"resourceType":"CLUSTER","resourceName":"kafka-cluster","resourcePatternType":"LITERAL","principal":"User:x","host":"*","operation":"ALL","permissionType":"DENY"}]}`,
			result:  `{"results":[{"errorCode":0,"errorMessage":null}]}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "create acls, unknown enum codes, one result denied",
			r: line(t, "CREATE_ACLS", 30, 3, `{"creations":[{"resourceType":99,"resourceName":"t","resourcePatternType":4,"principal":"User:x","host":"*","operation":99,"permissionType":99}]}`,
				`{"throttleTimeMs":0,"results":[{"errorCode":42,"errorMessage":"bad"},{"errorCode":31,"errorMessage":"no"}]}`),
			request: `{"creations":[{"resourceType":"UNKNOWN","resourceName":"t","resourcePatternType":"PREFIXED","principal":"User:x","host":"*","operation":"UNKNOWN","permissionType":"UNKNOWN"}]}`,
			result:  `{"results":[{"errorCode":42,"errorMessage":"bad"},{"errorCode":31,"errorMessage":"no"}]}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzDeny,
		},
		{
			name: "delete acls with null filters and a failed match",
			r: line(t, "DELETE_ACLS", 31, 3, `{"filters":[{"resourceTypeFilter":1,"resourceNameFilter":null,"patternTypeFilter":1,"principalFilter":null,"hostFilter":null,"operation":1,"permissionType":1}]}`,
				`{"throttleTimeMs":0,"filterResults":[{"errorCode":0,"errorMessage":null,"matchingAcls":[{"errorCode":87,"errorMessage":"x","resourceType":3,"resourceName":"g","patternType":3,"principal":"User:y","host":"*","operation":3,"permissionType":3}]}]}`),
			request: `{"filters":[{"resourceTypeFilter":"ANY","resourceNameFilter":null,"patternTypeFilter":"ANY","principalFilter":null,"hostFilter":null,"operation":"ANY","permissionType":"ANY"}]}`,
			result:  `{"filterResults":[{"errorCode":0,"errorMessage":null,"matchingAcls":[{"errorCode":87,"errorMessage":"x","resourceType":"GROUP","resourceName":"g","patternType":"LITERAL","principal":"User:y","host":"*","operation":"READ","permissionType":"ALLOW"}]}]}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzAllow,
		},
		{
			name: "alter configs on a broker: secret masked, Kafka's [hidden] kept",
			r: line(t, "ALTER_CONFIGS", 33, 2, `{"resources":[{"resourceType":4,"resourceName":"1","configs":[{"name":"ssl.keystore.password","value":"p"},{"name":"listener.name.x.ssl.key.password","value":"[hidden]"},{"name":"log.retention.ms","value":"1"}]},{"resourceType":8,"resourceName":"1","configs":[{"name":"kafka.server","value":"DEBUG"}]}],"validateOnly":true}`,
				`{"throttleTimeMs":0,"responses":[{"errorCode":0,"errorMessage":null,"resourceType":4,"resourceName":"1"},{"errorCode":0,"errorMessage":null,"resourceType":8,"resourceName":"1"}]}`),
			request: `{"resources":[{"resourceType":"BROKER","resourceName":"1","configs":[{"name":"ssl.keystore.password","value":"[hidden]"},{"name":"listener.name.x.ssl.key.password","value":"[hidden]"},{"name":"log.retention.ms","value":"1"}]},{"resourceType":"BROKER_LOGGER","resourceName":"1","configs":[{"name":"kafka.server","value":"DEBUG"}]}],"validateOnly":true}`,
			result:  `{"responses":[{"errorCode":0,"errorMessage":null,"resourceType":"BROKER","resourceName":"1"},{"errorCode":0,"errorMessage":null,"resourceType":"BROKER_LOGGER","resourceName":"1"}]}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "incremental alter configs: every operation, null value kept",
			r: line(t, "INCREMENTAL_ALTER_CONFIGS", 44, 1, `{"resources":[{"resourceType":32,"resourceName":"g","configs":[{"name":"a","configOperation":0,"value":"1"},{"name":"b","configOperation":1,"value":null},{"name":"c","configOperation":2,"value":"x"},{"name":"d","configOperation":3,"value":"y"},{"name":"e","configOperation":9,"value":"z"},{"name":"sasl.oauthbearer.client.secret","configOperation":0,"value":"s"}]},{"resourceType":16,"resourceName":"m","configs":[]}],"validateOnly":false}`,
				`{"throttleTimeMs":0,"responses":[{"errorCode":30,"errorMessage":null,"resourceType":32,"resourceName":"g"},{"errorCode":0,"errorMessage":null,"resourceType":16,"resourceName":"m"}]}`),
			request: `{"resources":[{"resourceType":"GROUP","resourceName":"g","configs":[{"name":"a","configOperation":"SET","value":"1"},{"name":"b","configOperation":"DELETE","value":null},{"name":"c","configOperation":"APPEND","value":"x"},{"name":"d","configOperation":"SUBTRACT","value":"y"},{"name":"e","configOperation":"UNKNOWN","value":"z"},{"name":"sasl.oauthbearer.client.secret","configOperation":"SET","value":"[hidden]"}]},{"resourceType":"CLIENT_METRICS","resourceName":"m","configs":[]}],"validateOnly":false}`,
			result:  `{"responses":[{"errorCode":30,"errorMessage":null,"resourceType":"GROUP","resourceName":"g"},{"errorCode":0,"errorMessage":null,"resourceType":"CLIENT_METRICS","resourceName":"m"}]}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzDeny,
		},
		{
			name: "alter mirrors with a numeric operation code",
			r: line(t, "ALTER_MIRRORS", 10006, 0, `{"mirrorOperations":[{"topic":"a","operationCode":2},{"topic":"b"}],"validateOnly":true,"timeoutMs":5}`,
				`{"throttleTimeMs":0,"results":[{"errorCode":0,"errorMessage":null,"topic":"a"},{"errorCode":3,"errorMessage":"gone","topic":"b"}]}`),
			request: `{"mirrorOperations":[{"topic":"a","operationCode":2},{"topic":"b","operationCode":null}],"validateOnly":true,"timeoutMs":5}`,
			result:  `{"results":[{"errorCode":0,"errorMessage":null,"topic":"a"},{"errorCode":3,"errorMessage":"gone","topic":"b"}]}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzAllow,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := enrichAll(t, tc.r, testCluster, Lookups{})
			require.Len(t, recs, 1)
			rec := recs[0]
			require.Equal(t, schemas.ResourceRef{Type: ResKafkaCluster, ResourceID: "lkc-1"}, rec.CloudResources[0].Resource)
			require.Equal(t, "crn://confluent.cloud/organization=org-1/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1", rec.ResourceName)
			require.Equal(t, tc.request, string(rec.Request.Data))
			require.Equal(t, tc.result, string(rec.Result.Data))
			require.Equal(t, tc.status, rec.Result.Status)
			require.Equal(t, tc.authz, rec.AuthorizationInfo.Result)
			require.Equal(t, tc.authz, rec.Route.Authz)
		})
	}
}

func TestFetchOutcome(t *testing.T) {
	req := `{"replicaId":-1,"topics":[{"topic":"a","partitions":[]},{"topic":"b","partitions":[]}]}`
	tests := []struct {
		name    string
		resp    string
		results []string
		authz   []string
	}{
		{
			name:    "success: the error name is the message",
			resp:    `{"errorCode":0,"responses":[{"topic":"a","partitions":[{"partitionIndex":0,"errorCode":0}]},{"topic":"b","partitions":[{"partitionIndex":0,"errorCode":0}]}]}`,
			results: []string{`{"message":"NONE","errorCode":0,"errorType":"NONE"}`, `{"message":"NONE","errorCode":0,"errorType":"NONE"}`},
			authz:   []string{schemas.AuthzAllow, schemas.AuthzAllow},
		},
		{
			name: "a denied partition wins over an earlier error",
			resp: `{"errorCode":0,"responses":[{"topic":"a","partitions":[{"partitionIndex":0,"errorCode":0}]},{"topic":"b","partitions":[{"partitionIndex":0,"errorCode":6},{"partitionIndex":1,"errorCode":29}]}]}`,
			results: []string{
				`{"message":"NONE","errorCode":0,"errorType":"NONE"}`,
				`{"message":"Topic authorization failed.","errorCode":29,"errorType":"TOPIC_AUTHORIZATION_FAILED"}`,
			},
			authz: []string{schemas.AuthzAllow, schemas.AuthzDeny},
		},
		{
			name: "top-level error applies to every topic",
			resp: `{"errorCode":70,"responses":[]}`,
			results: []string{
				`{"message":"The fetch session ID was not found.","errorCode":70,"errorType":"FETCH_SESSION_ID_NOT_FOUND"}`,
				`{"message":"The fetch session ID was not found.","errorCode":70,"errorType":"FETCH_SESSION_ID_NOT_FOUND"}`,
			},
			authz: []string{schemas.AuthzAllow, schemas.AuthzAllow},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := enrichAll(t, line(t, "FETCH", 1, 12, req, tc.resp), testCluster, Lookups{})
			require.Len(t, recs, 2)
			for i, rec := range recs {
				require.Equal(t, `{"partition":null,"offset":null}`, string(rec.Request.Data))
				require.Equal(t, tc.results[i], string(rec.Result.Data))
				require.Equal(t, tc.authz[i], rec.AuthorizationInfo.Result)
			}
		})
	}
}

// TestGenericMapping covers APIs without a specific mapping: one record on
// the cluster, the logged request (secrets masked) as request.data.
func TestGenericMapping(t *testing.T) {
	tests := []struct {
		name, api     string
		key           int
		req, resp     string
		request       string
		result        string
		status, authz string
	}{
		{
			name: "heartbeat ok", api: "HEARTBEAT", key: 12,
			req:     `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			resp:    `{"throttleTimeMs":0,"errorCode":0}`,
			request: `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			result:  `{"message":null,"errorCode":0,"errorType":"NONE"}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "heartbeat rebalancing", api: "HEARTBEAT", key: 12,
			req:     `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			resp:    `{"throttleTimeMs":0,"errorCode":27}`,
			request: `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			result:  `{"message":null,"errorCode":27,"errorType":"REBALANCE_IN_PROGRESS"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzAllow,
		},
		{
			name: "heartbeat denied", api: "HEARTBEAT", key: 12,
			req:     `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			resp:    `{"throttleTimeMs":0,"errorCode":30}`,
			request: `{"groupId":"g","generationId":1,"memberId":"m","groupInstanceId":null}`,
			result:  `{"message":null,"errorCode":30,"errorType":"GROUP_AUTHORIZATION_FAILED"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzDeny,
		},
		{
			name: "metadata: no errorCode in the response", api: "METADATA", key: 3,
			req:     `{"topics":null,"allowAutoTopicCreation":true,"includeTopicAuthorizedOperations":false}`,
			resp:    `{"throttleTimeMs":0,"brokers":[{"nodeId":1,"host":"b","port":9092,"rack":null}],"clusterId":"c","controllerId":1,"topics":[]}`,
			request: `{"topics":null,"allowAutoTopicCreation":true,"includeTopicAuthorizedOperations":false}`,
			result:  `{"message":null,"errorCode":0,"errorType":"NONE"}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "metadata: a denied topic", api: "METADATA", key: 3,
			req:     `{"topics":[{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","name":"secret"}],"allowAutoTopicCreation":false,"includeTopicAuthorizedOperations":false}`,
			resp:    `{"throttleTimeMs":0,"brokers":[],"clusterId":"c","controllerId":1,"topics":[{"errorCode":29,"name":"secret","topicId":"AAAAAAAAAAAAAAAAAAAAAA","isInternal":false,"partitions":[]}]}`,
			request: `{"topics":[{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","name":"secret"}],"allowAutoTopicCreation":false,"includeTopicAuthorizedOperations":false}`,
			result:  `{"message":null,"errorCode":29,"errorType":"TOPIC_AUTHORIZATION_FAILED"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzDeny,
		},
		{
			name: "offset commit: per-partition errors only", api: "OFFSET_COMMIT", key: 8,
			req:     `{"groupId":"g","generationIdOrMemberEpoch":1,"memberId":"m","groupInstanceId":null,"topics":[{"name":"a","partitions":[{"partitionIndex":0,"committedOffset":5,"committedLeaderEpoch":-1,"committedMetadata":""}]}]}`,
			resp:    `{"throttleTimeMs":0,"topics":[{"name":"a","partitions":[{"partitionIndex":0,"errorCode":0}]}]}`,
			request: `{"groupId":"g","generationIdOrMemberEpoch":1,"memberId":"m","groupInstanceId":null,"topics":[{"name":"a","partitions":[{"partitionIndex":0,"committedOffset":5,"committedLeaderEpoch":-1,"committedMetadata":""}]}]}`,
			result:  `{"message":null,"errorCode":0,"errorType":"NONE"}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "offset commit: a failed partition", api: "OFFSET_COMMIT", key: 8,
			req:     `{"groupId":"g","topics":[]}`,
			resp:    `{"throttleTimeMs":0,"topics":[{"name":"a","partitions":[{"partitionIndex":0,"errorCode":0},{"partitionIndex":1,"errorCode":25}]}]}`,
			request: `{"groupId":"g","topics":[]}`,
			result:  `{"message":null,"errorCode":25,"errorType":"UNKNOWN_MEMBER_ID"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzAllow,
		},
		{
			name: "top-level message kept", api: "DESCRIBE_CLUSTER", key: 60,
			req:     `{"includeClusterAuthorizedOperations":false}`,
			resp:    `{"throttleTimeMs":0,"errorCode":31,"errorMessage":"not allowed","clusterId":"c","brokers":[]}`,
			request: `{"includeClusterAuthorizedOperations":false}`,
			result:  `{"message":"not allowed","errorCode":31,"errorType":"CLUSTER_AUTHORIZATION_FAILED"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzDeny,
		},
		{
			name: "scram upsertion secrets masked", api: "ALTER_USER_SCRAM_CREDENTIALS", key: 51,
			req:     `{"deletions":[],"upsertions":[{"name":"bob","mechanism":1,"iterations":8192,"salt":"c2FsdA==","saltedPassword":"cHc="}]}`,
			resp:    `{"throttleTimeMs":0,"results":[{"user":"bob","errorCode":0,"errorMessage":null}]}`,
			request: `{"deletions":[],"upsertions":[{"name":"bob","mechanism":1,"iterations":8192,"salt":"[hidden]","saltedPassword":"[hidden]"}]}`,
			result:  `{"message":null,"errorCode":0,"errorType":"NONE"}`,
			status:  schemas.StatusSuccess, authz: schemas.AuthzAllow,
		},
		{
			name: "no request body", api: "API_VERSIONS", key: 18,
			req:     `""`,
			resp:    `{"errorCode":35,"apiKeys":[]}`,
			request: `null`,
			result:  `{"message":null,"errorCode":35,"errorType":"UNSUPPORTED_VERSION"}`,
			status:  schemas.StatusFailure, authz: schemas.AuthzAllow,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := enrichAll(t, line(t, tc.api, tc.key, 4, tc.req, tc.resp), testCluster, Lookups{})
			require.Len(t, recs, 1)
			rec := recs[0]
			require.Equal(t, schemas.MethodName(tc.api), rec.MethodName)
			require.Equal(t, []schemas.CloudResource{{
				Scope: schemas.Scope{Resources: []schemas.ResourceRef{
					{Type: ResOrganization, ResourceID: "org-1"}, {Type: ResEnvironment, ResourceID: "env-1"}, {Type: ResCloudCluster, ResourceID: "lkc-1"},
				}},
				Resource: schemas.ResourceRef{Type: ResKafkaCluster, ResourceID: "lkc-1"},
			}}, rec.CloudResources)
			require.Equal(t, "lkc-1", rec.Route.ResourceName)
			require.Equal(t, tc.request, string(rec.Request.Data))
			require.Equal(t, tc.result, string(rec.Result.Data))
			require.Equal(t, tc.status, rec.Result.Status)
			require.Equal(t, tc.authz, rec.AuthorizationInfo.Result)
		})
	}
}

func TestEnrichBadBodies(t *testing.T) {
	tests := []struct{ name, api, req, resp, want string }{
		{"typed request", "CREATE_ACLS", `{"creations":"x"}`, `{}`, "kafka.CreateAcls: request: decode"},
		{"typed response", "DELETE_GROUPS", `{"groupsNames":[]}`, `{"results":{}}`, "kafka.DeleteGroups: response: decode"},
		{"topic configs", "CREATE_TOPICS", `{"topics":[{"name":"a","configs":{}}]}`, `{}`, `topic "a" configs`},
		{"generic response", "HEARTBEAT", `{}`, `{"errorCode":"x"}`, "kafka.Heartbeat: decode"},
		{"generic request", "HEARTBEAT", `[1,`, `{}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &schemas.RequestLog{APIName: tc.api, Connection: "c", Principal: "User:x", Request: json.RawMessage(tc.req), Response: json.RawMessage(tc.resp)}
			_, err := Enrich(r, testCluster, Lookups{})
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestAuthenticationInfo(t *testing.T) {
	sa := schemas.Identity{Type: schemas.IdentityServiceAccount, ID: "sa-9", Email: "svc@example.com"}
	dir := Lookups{Identity: func(p string) (schemas.Identity, bool) { return sa, p == "User:alice" }}
	produce := func(principal string) *schemas.RequestLog {
		r := line(t, "PRODUCE", 0, 9, `{"acks":1,"topicData":[{"name":"a","partitionData":[]}]}`, `{"responses":[]}`)
		r.Principal = principal
		return r
	}
	create := line(t, "CREATE_TOPICS", 19, 7, `{"topics":[{"name":"a"}]}`, `{"topics":[]}`)
	noOrg := testCluster
	noOrg.Organization = ""
	tests := []struct {
		name     string
		r        *schemas.RequestLog
		c        Cluster
		l        Lookups
		wantJSON string
	}{
		{
			name: "directory entry on a data-plane method carries the identity CRN",
			r:    produce("User:alice"), c: testCluster, l: dir,
			wantJSON: `{"principal":{"email":"svc@example.com","confluentServiceAccount":{"resourceId":"sa-9"}},"result":"SUCCESS","identity":"crn://confluent.cloud/organization=org-1/identity-provider=Confluent/identity=sa-9"}`,
		},
		{
			name: "no organization, no identity CRN",
			r:    produce("User:alice"), c: noOrg, l: dir,
			wantJSON: `{"principal":{"email":"svc@example.com","confluentServiceAccount":{"resourceId":"sa-9"}},"result":"SUCCESS"}`,
		},
		{
			name: "management methods carry no identity CRN",
			r:    create, c: testCluster, l: dir,
			wantJSON: `{"principal":{"email":"svc@example.com","confluentServiceAccount":{"resourceId":"sa-9"}},"result":"SUCCESS"}`,
		},
		{
			name: "fallback ids are Kafka's: no identity CRN",
			r:    produce("User:bob"), c: testCluster, l: dir,
			wantJSON: `{"principal":{"confluentUser":{"resourceId":"bob"}},"result":"SUCCESS"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := enrichAll(t, tc.r, tc.c, tc.l)
			require.NotEmpty(t, recs)
			got, err := json.Marshal(recs[0].AuthenticationInfo)
			require.NoError(t, err)
			require.Equal(t, tc.wantJSON, string(got))
		})
	}
}

func TestPrincipalFallback(t *testing.T) {
	tests := []struct {
		principal string
		want      schemas.Principal
	}{
		{"User:alice", schemas.Principal{ConfluentUser: &schemas.ResourceID{ResourceID: "alice"}}},
		{"User:sa-abc12", schemas.Principal{ConfluentServiceAccount: &schemas.ResourceID{ResourceID: "sa-abc12"}}},
		{"User:CN=app,OU=x", schemas.Principal{ConfluentUser: &schemas.ResourceID{ResourceID: "CN=app,OU=x"}}},
		{"User:ANONYMOUS", schemas.Principal{ConfluentUser: &schemas.ResourceID{ResourceID: "ANONYMOUS"}}},
		{"Group:ops", schemas.Principal{ConfluentUser: &schemas.ResourceID{ResourceID: "Group:ops"}}},
	}
	for _, tc := range tests {
		t.Run(tc.principal, func(t *testing.T) {
			require.Equal(t, tc.want, principalFallback(tc.principal))
		})
	}
}

func TestRequestMetadata(t *testing.T) {
	tests := []struct{ connection, ip string }{
		{"10.0.0.1:9092-192.0.2.7:50000-3", "192.0.2.7"},           // Kafka 3.x
		{"10.0.0.1:9092-192.0.2.7:50000-2-3", "192.0.2.7"},         // Kafka 4.x
		{"fe80::1%eth0:9092-2001:db8::7:50000-2-3", "2001:db8::7"}, // IPv6
		{"not-a-connection-id", ""},
	}
	for _, tc := range tests {
		t.Run(tc.connection, func(t *testing.T) {
			r := line(t, "DELETE_GROUPS", 42, 2, `{"groupsNames":["g"]}`, `{"results":[]}`)
			r.Connection = tc.connection
			recs := enrichAll(t, r, testCluster, Lookups{})
			require.Equal(t, schemas.RequestMetadata{
				ConnectionID:  tc.connection,
				RequestID:     []string{"7"},
				ClientID:      "cli",
				ClientAddress: []schemas.ClientAddress{{IP: tc.ip}},
			}, recs[0].RequestMetadata)
		})
	}
}

func TestCRN(t *testing.T) {
	platform := Cluster{ID: "qL97v6UYSyOOwnIPIHurGg"}
	tests := []struct {
		name, typ, res string
		c              Cluster
		crn            string
		scope          []schemas.ResourceRef
	}{
		{
			name: "cloud topic", c: testCluster, typ: ResTopic, res: "orders",
			crn: "crn://confluent.cloud/organization=org-1/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/topic=orders",
			scope: []schemas.ResourceRef{
				{Type: ResOrganization, ResourceID: "org-1"}, {Type: ResEnvironment, ResourceID: "env-1"},
				{Type: ResCloudCluster, ResourceID: "lkc-1"}, {Type: ResKafkaCluster, ResourceID: "lkc-1"},
			},
		},
		{
			name: "names with / = and % are escaped", c: testCluster, typ: ResGroup, res: "a/b=c%d",
			crn: "crn://confluent.cloud/organization=org-1/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/group=a%2Fb%3Dc%25d",
			scope: []schemas.ResourceRef{
				{Type: ResOrganization, ResourceID: "org-1"}, {Type: ResEnvironment, ResourceID: "env-1"},
				{Type: ResCloudCluster, ResourceID: "lkc-1"}, {Type: ResKafkaCluster, ResourceID: "lkc-1"},
			},
		},
		{
			name: "cluster link", c: testCluster, typ: ResClusterLink, res: "l",
			crn: "crn://confluent.cloud/organization=org-1/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1/link=l",
			scope: []schemas.ResourceRef{
				{Type: ResOrganization, ResourceID: "org-1"}, {Type: ResEnvironment, ResourceID: "env-1"},
				{Type: ResCloudCluster, ResourceID: "lkc-1"}, {Type: ResKafkaCluster, ResourceID: "lkc-1"},
			},
		},
		{
			name: "cloud cluster itself", c: testCluster, typ: ResKafkaCluster, res: "lkc-1",
			crn: "crn://confluent.cloud/organization=org-1/environment=env-1/cloud-cluster=lkc-1/kafka=lkc-1",
			scope: []schemas.ResourceRef{
				{Type: ResOrganization, ResourceID: "org-1"}, {Type: ResEnvironment, ResourceID: "env-1"}, {Type: ResCloudCluster, ResourceID: "lkc-1"},
			},
		},
		{
			name: "platform cluster: empty authority, empty scope", c: platform, typ: ResKafkaCluster, res: "qL97v6UYSyOOwnIPIHurGg",
			crn: "crn:///kafka=qL97v6UYSyOOwnIPIHurGg", scope: []schemas.ResourceRef{},
		},
		{
			name: "platform topic", c: platform, typ: ResTopic, res: "t",
			crn: "crn:///kafka=qL97v6UYSyOOwnIPIHurGg/topic=t", scope: []schemas.ResourceRef{{Type: ResKafkaCluster, ResourceID: "qL97v6UYSyOOwnIPIHurGg"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crn, scope := tc.c.resourceCRN(tc.typ, tc.res)
			require.Equal(t, tc.crn, crn)
			require.Equal(t, tc.scope, scope)
		})
	}
}

func TestEscapeCRN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"orders", "orders"},
		{"a/b", "a%2Fb"},
		{"k=v", "k%3Dv"},
		{"100%", "100%25"},
		{"%2F", "%252F"}, // an already-escaped-looking name stays distinct from "/"
		{"a.b_c-d:e", "a.b_c-d:e"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, escapeCRN(tc.in))
		})
	}
	require.Equal(t, "crn://confluent.cloud/organization=o%2F1/identity-provider=Confluent/identity=u%3D1",
		Cluster{CRNAuthority: "confluent.cloud", Organization: "o/1"}.identityCRN("u=1"))
}

func TestPlatformRecordShape(t *testing.T) {
	r := line(t, "DELETE_GROUPS", 42, 2, `{"groupsNames":["g"]}`, `{"results":[{"groupId":"g","errorCode":0}]}`)
	r.Cluster = "c1" // as parsed with cluster.id c1
	recs, err := Enrich(r, Cluster{ID: "c1"}, Lookups{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	ev := recs[0].Event
	require.Equal(t, "crn:///", ev.Source())
	require.Equal(t, "crn:///kafka=c1/group=g", ev.Subject())
	require.Equal(t, schemas.RouteInfo{
		Type: schemas.TypeRequest, Method: "kafka.DeleteGroups", Category: schemas.CatManagement,
		Subject: "crn:///kafka=c1/group=g", Principal: "User:alice", Connection: "10.0.0.1:9092-192.0.2.7:50000-3",
		ResourceType: ResGroup, ResourceName: "g", Status: schemas.StatusSuccess, Authz: schemas.AuthzAllow, ErrorType: "NONE",
	}, recs[0].Route)
}

func TestRecordIDs(t *testing.T) {
	r := line(t, "DELETE_GROUPS", 42, 2, `{"groupsNames":["a","b"]}`, `{"results":[]}`)
	first, err := Enrich(r, testCluster, Lookups{})
	require.NoError(t, err)
	again, err := Enrich(r, testCluster, Lookups{})
	require.NoError(t, err)
	require.Len(t, first, 2)
	require.Equal(t, first[0].Event.ID(), again[0].Event.ID(), "a replay keeps its ids")
	require.NotEqual(t, first[0].Event.ID(), first[1].Event.ID(), "each resource gets its own id")

	// A broker restart reuses connection ids, and the new client counts
	// correlation ids from 0 again: only the time tells the requests apart.
	reused := *r
	reused.Time = r.Time.Add(time.Hour)
	later, err := Enrich(&reused, testCluster, Lookups{})
	require.NoError(t, err)
	require.NotEqual(t, first[0].Event.ID(), later[0].Event.ID(), "a reused connection id's request gets its own id")
}

// TestClusterFromRecord checks that a record's own cluster id (set from a
// shipper's kaudit-cluster header) names the cluster in its CRNs.
func TestClusterFromRecord(t *testing.T) {
	r := line(t, "DELETE_GROUPS", 42, 2, `{"groupsNames":["g"]}`, `{"results":[{"groupId":"g","errorCode":0}]}`)
	r.Cluster = "lkc-other"
	recs, err := Enrich(r, Cluster{ID: "lkc-main", CRNAuthority: "confluent.cloud", Organization: "o", CloudCluster: "lkc-main"}, Lookups{})
	require.NoError(t, err)
	require.Equal(t, "crn://confluent.cloud/organization=o/cloud-cluster=lkc-other/kafka=lkc-other/group=g", recs[0].Event.Subject())
	require.Equal(t, Cluster{ID: "a"}, Cluster{ID: "a"}.For(""))
}
