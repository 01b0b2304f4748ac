package bench

import (
	"strconv"
	"time"
)

// The line builders below write the same shapes as topology/demo's
// (`[ts] DEBUG Completed request:{json} (kafka.request.logger)`, keys in
// Kafka's order) but append into a caller's buffer instead of going
// through fmt and encoding/json: a million lines are built in about a
// second instead of ten. lines_test.go checks them byte for byte against
// demo.Produce and demo.Fetch. Admin requests follow the real broker logs
// in processors/enrich/testdata/seed. Every string written here is plain
// ASCII without quotes or backslashes, so it needs no JSON escaping.

// logTime is log4j's %d layout, as demo.Line writes it.
const logTime = "2006-01-02 15:04:05,000"

// conn is what a broker logs about the connection a request came on.
type conn struct {
	id        []byte // e.g. 10.0.0.11:9094-10.1.3.7:40123-17
	principal string
	clientID  []byte // may carry a bench stamp in front
	swName    string
	swVersion string
}

// head writes everything up to and including `"request":`.
func head(b []byte, t time.Time, c *conn, apiKey, apiVersion int, corr int32, apiName string) []byte {
	b = append(b, '[')
	b = t.UTC().AppendFormat(b, logTime)
	b = append(b, `] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":`...)
	b = strconv.AppendInt(b, int64(apiKey), 10)
	b = append(b, `,"requestApiVersion":`...)
	b = strconv.AppendInt(b, int64(apiVersion), 10)
	b = append(b, `,"correlationId":`...)
	b = strconv.AppendInt(b, int64(corr), 10)
	b = append(b, `,"clientId":"`...)
	b = append(b, c.clientID...)
	b = append(b, `","requestApiKeyName":"`...)
	b = append(b, apiName...)
	return append(b, `"},"request":`...)
}

// between separates the request from the response.
func between(b []byte) []byte { return append(b, `,"response":`...) }

// tail writes everything after the response.
func tail(b []byte, c *conn) []byte {
	b = append(b, `,"connection":"`...)
	b = append(b, c.id...)
	b = append(b, `","totalTimeMs":1.25,"requestQueueTimeMs":0.05,"localTimeMs":0.6,"remoteTimeMs":0.4,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"`...)
	b = append(b, c.principal...)
	b = append(b, `","listener":"EXTERNAL","clientInformation":{"softwareName":"`...)
	b = append(b, c.swName...)
	b = append(b, `","softwareVersion":"`...)
	b = append(b, c.swVersion...)
	return append(b, `"}} (kafka.request.logger)`...)
}

// part is one partition of a Produce or Fetch.
type part struct {
	index  int32
	size   int32 // recordsSizeInBytes
	offset int64 // Produce: baseOffset; Fetch: fetchOffset (highWatermark is offset+100)
}

// appendProduce writes a Produce v11 to several partitions of one topic,
// each answered with code; a failed partition has baseOffset -1.
func appendProduce(b []byte, t time.Time, c *conn, corr int32, topic string, parts []part, code int) []byte {
	b = head(b, t, c, 0, 11, corr, "PRODUCE")
	b = append(b, `{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":"`...)
	b = append(b, topic...)
	b = append(b, `","partitionData":[`...)
	for i, p := range parts {
		b = comma(b, i)
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(p.index), 10)
		b = append(b, `,"recordsSizeInBytes":`...)
		b = strconv.AppendInt(b, int64(p.size), 10)
		b = append(b, '}')
	}
	b = append(b, `]}]}`...)
	b = between(b)
	b = append(b, `{"responses":[{"name":"`...)
	b = append(b, topic...)
	b = append(b, `","partitionResponses":[`...)
	for i, p := range parts {
		b = comma(b, i)
		base := p.offset
		if code != 0 {
			base = -1
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(p.index), 10)
		b = append(b, `,"errorCode":`...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `,"baseOffset":`...)
		b = strconv.AppendInt(b, base, 10)
		b = append(b, `,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null}`...)
	}
	b = append(b, `]}],"throttleTimeMs":0}`...)
	return tail(b, c)
}

// appendFetch writes a consumer Fetch v12 of several partitions of one
// topic (by name), each answered with code.
func appendFetch(b []byte, t time.Time, c *conn, corr int32, topic string, parts []part, code int) []byte {
	b = head(b, t, c, 1, 12, corr, "FETCH")
	b = append(b, `{"replicaId":-1,"maxWaitMs":500,"minBytes":1,"maxBytes":52428800,"isolationLevel":0,"sessionId":0,"sessionEpoch":0,"topics":[{"topic":"`...)
	b = append(b, topic...)
	b = append(b, `","partitions":[`...)
	for i, p := range parts {
		b = comma(b, i)
		b = append(b, `{"partition":`...)
		b = strconv.AppendInt(b, int64(p.index), 10)
		b = append(b, `,"currentLeaderEpoch":4,"fetchOffset":`...)
		b = strconv.AppendInt(b, p.offset, 10)
		b = append(b, `,"lastFetchedEpoch":-1,"logStartOffset":-1,"partitionMaxBytes":1048576}`...)
	}
	b = append(b, `]}],"forgottenTopicsData":[],"rackId":""}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"errorCode":0,"sessionId":0,"responses":[{"topic":"`...)
	b = append(b, topic...)
	b = append(b, `","partitions":[`...)
	for i, p := range parts {
		b = comma(b, i)
		b = append(b, `{"partitionIndex":`...)
		b = strconv.AppendInt(b, int64(p.index), 10)
		b = append(b, `,"errorCode":`...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `,"highWatermark":`...)
		b = strconv.AppendInt(b, p.offset+100, 10)
		b = append(b, `,"lastStableOffset":`...)
		b = strconv.AppendInt(b, p.offset+100, 10)
		b = append(b, `,"logStartOffset":0,"abortedTransactions":null,"preferredReadReplica":-1,`...)
		if code == 0 {
			b = append(b, `"recordsSizeInBytes":`...)
			b = strconv.AppendInt(b, int64(p.size), 10)
		} else {
			b = append(b, `"records":null`...)
		}
		b = append(b, '}')
	}
	b = append(b, `]}]}`...)
	return tail(b, c)
}

// comma separates list items: it writes ',' before each one but the first.
func comma(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ',')
	}
	return b
}

// kv is one topic config.
type kv struct{ name, value string }

// nullTopicID is what brokers log for a topic id they do not know.
const nullTopicID = "AAAAAAAAAAAAAAAAAAAAAA"

// appendCreateTopics writes a CreateTopics v7 of one topic with configs.
// On failure (code != 0) the response has no id, -1 counts and message.
func appendCreateTopics(b []byte, t time.Time, c *conn, corr int32, topic, topicID string, partitions int, configs []kv, code int, message string) []byte {
	b = head(b, t, c, 19, 7, corr, "CREATE_TOPICS")
	b = append(b, `{"topics":[{"name":"`...)
	b = append(b, topic...)
	b = append(b, `","numPartitions":`...)
	b = strconv.AppendInt(b, int64(partitions), 10)
	b = append(b, `,"replicationFactor":3,"assignments":[],"configs":[`...)
	for i, cf := range configs {
		b = comma(b, i)
		b = append(b, `{"name":"`...)
		b = append(b, cf.name...)
		b = append(b, `","value":"`...)
		b = append(b, cf.value...)
		b = append(b, `"}`...)
	}
	b = append(b, `]}],"timeoutMs":60000,"validateOnly":false}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"topics":[{"name":"`...)
	b = append(b, topic...)
	if code != 0 {
		b = append(b, `","topicId":"`+nullTopicID+`","errorCode":`...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `,"errorMessage":"`...)
		b = append(b, message...)
		b = append(b, `","numPartitions":-1,"replicationFactor":-1,"configs":[]}]}`...)
		return tail(b, c)
	}
	b = append(b, `","topicId":"`...)
	b = append(b, topicID...)
	b = append(b, `","errorCode":0,"errorMessage":null,"numPartitions":`...)
	b = strconv.AppendInt(b, int64(partitions), 10)
	b = append(b, `,"replicationFactor":3,"configs":[`...)
	for i, cf := range configs {
		b = comma(b, i)
		b = append(b, `{"name":"`...)
		b = append(b, cf.name...)
		b = append(b, `","value":"`...)
		b = append(b, cf.value...)
		b = append(b, `","readOnly":false,"configSource":1,"isSensitive":false}`...)
	}
	b = append(b, `]}]}`...)
	return tail(b, c)
}

// appendDeleteTopics writes a DeleteTopics v6 of topics by name.
func appendDeleteTopics(b []byte, t time.Time, c *conn, corr int32, topics []string, topicIDs []string, code int) []byte {
	b = head(b, t, c, 20, 6, corr, "DELETE_TOPICS")
	b = append(b, `{"topics":[`...)
	for i, name := range topics {
		b = comma(b, i)
		b = append(b, `{"name":"`...)
		b = append(b, name...)
		b = append(b, `","topicId":"`+nullTopicID+`"}`...)
	}
	b = append(b, `],"timeoutMs":60000}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"responses":[`...)
	for i, name := range topics {
		b = comma(b, i)
		id := topicIDs[i]
		if code != 0 {
			id = nullTopicID
		}
		b = append(b, `{"name":"`...)
		b = append(b, name...)
		b = append(b, `","topicId":"`...)
		b = append(b, id...)
		b = append(b, `","errorCode":`...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `,"errorMessage":null}`...)
	}
	b = append(b, `]}`...)
	return tail(b, c)
}

// appendAlterConfigs writes an AlterConfigs v2 (incremental=false) or an
// IncrementalAlterConfigs v1 (SET operations) of one topic.
func appendAlterConfigs(b []byte, t time.Time, c *conn, corr int32, incremental bool, topic string, configs []kv) []byte {
	if incremental {
		b = head(b, t, c, 44, 1, corr, "INCREMENTAL_ALTER_CONFIGS")
	} else {
		b = head(b, t, c, 33, 2, corr, "ALTER_CONFIGS")
	}
	b = append(b, `{"resources":[{"resourceType":2,"resourceName":"`...)
	b = append(b, topic...)
	b = append(b, `","configs":[`...)
	for i, cf := range configs {
		b = comma(b, i)
		b = append(b, `{"name":"`...)
		b = append(b, cf.name...)
		if incremental {
			b = append(b, `","configOperation":0`...)
			b = append(b, `,"value":"`...)
		} else {
			b = append(b, `","value":"`...)
		}
		b = append(b, cf.value...)
		b = append(b, `"}`...)
	}
	b = append(b, `]}],"validateOnly":false}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"responses":[{"errorCode":0,"errorMessage":null,"resourceType":2,"resourceName":"`...)
	b = append(b, topic...)
	b = append(b, `"}]}`...)
	return tail(b, c)
}

// appendCreateAcls writes a CreateAcls v3 of one literal topic ACL.
func appendCreateAcls(b []byte, t time.Time, c *conn, corr int32, topic, principal string) []byte {
	b = head(b, t, c, 30, 3, corr, "CREATE_ACLS")
	b = append(b, `{"creations":[{"resourceType":2,"resourceName":"`...)
	b = append(b, topic...)
	b = append(b, `","resourcePatternType":3,"principal":"`...)
	b = append(b, principal...)
	b = append(b, `","host":"*","operation":4,"permissionType":3}]}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"results":[{"errorCode":0,"errorMessage":""}]}`...)
	return tail(b, c)
}

// appendDeleteGroups writes a DeleteGroups v2 of consumer groups.
func appendDeleteGroups(b []byte, t time.Time, c *conn, corr int32, groups []string) []byte {
	b = head(b, t, c, 42, 2, corr, "DELETE_GROUPS")
	b = append(b, `{"groupsNames":[`...)
	for i, g := range groups {
		b = comma(b, i)
		b = append(b, '"')
		b = append(b, g...)
		b = append(b, '"')
	}
	b = append(b, `]}`...)
	b = between(b)
	b = append(b, `{"throttleTimeMs":0,"results":[`...)
	for i, g := range groups {
		b = comma(b, i)
		b = append(b, `{"groupId":"`...)
		b = append(b, g...)
		b = append(b, `","errorCode":0}`...)
	}
	b = append(b, `]}`...)
	return tail(b, c)
}
