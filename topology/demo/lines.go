// Package demo makes request-log traffic: line builders in Kafka's real
// kafka.request.logger format, the bundled sample log, and the `kaudit
// demo` run that feeds it through a pipeline on the embedded broker.
package demo

import (
	"encoding/json"
	"fmt"
	"time"
)

// Conn is one client connection as a broker logs it.
type Conn struct {
	ID        string // e.g. 10.0.0.11:9094-10.0.1.23:51544-17
	Principal string
	ClientID  string
	Software  string // softwareName/softwareVersion, e.g. apache-kafka-java/3.8.0
}

// ConnID builds a Kafka 3.x connection id.
func ConnID(brokerIP string, brokerPort int, clientIP string, clientPort, index int) string {
	return fmt.Sprintf("%s:%d-%s:%d-%d", brokerIP, brokerPort, clientIP, clientPort, index)
}

// Line renders one completed request as log4j writes it:
// `[ts] DEBUG Completed request:{json} (kafka.request.logger)`. Keys are
// written in Kafka's order (FORMATS.md A.2).
func Line(t time.Time, c Conn, apiKey, apiVersion int16, apiName string, corr int32, request, response any) string {
	name, version := splitSoftware(c.Software)
	body := fmt.Sprintf(`{"isForwarded":false,"requestHeader":{"requestApiKey":%d,"requestApiVersion":%d,"correlationId":%d,"clientId":%s,"requestApiKeyName":%q},"request":%s,"response":%s,"connection":%q,"totalTimeMs":1.25,"requestQueueTimeMs":0.05,"localTimeMs":0.6,"remoteTimeMs":0.4,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":%q,"listener":"EXTERNAL","clientInformation":{"softwareName":%q,"softwareVersion":%q}}`,
		apiKey, apiVersion, corr, mustJSON(c.ClientID), apiName, mustJSON(request), mustJSON(response), c.ID, c.Principal, name, version)
	return fmt.Sprintf("[%s] DEBUG Completed request:%s (kafka.request.logger)", t.UTC().Format("2006-01-02 15:04:05,000"), body)
}

func splitSoftware(s string) (string, string) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return "unknown", "unknown"
}

// mustJSON marshals values built in this package; they always marshal.
func mustJSON(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return `""`
	}
	return string(b)
}

type obj = map[string]any

// Produce is a Produce v11 request to one partition of topic, answered with
// code (0 for success).
func Produce(t time.Time, c Conn, corr int32, topic string, code int16, size int) string {
	base := int64(-1)
	if code == 0 {
		base = int64(corr) * 10
	}
	req := json.RawMessage(fmt.Sprintf(`{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":%q,"partitionData":[{"index":0,"recordsSizeInBytes":%d}]}]}`, topic, size))
	resp := json.RawMessage(fmt.Sprintf(`{"responses":[{"name":%q,"partitionResponses":[{"index":0,"errorCode":%d,"baseOffset":%d,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null}]}],"throttleTimeMs":0}`, topic, code, base))
	return Line(t, c, 0, 11, "PRODUCE", corr, req, resp)
}

// Fetch is a consumer Fetch v12 of one partition of topic (by name).
func Fetch(t time.Time, c Conn, corr int32, topic string, code int16, size int) string {
	records := fmt.Sprintf(`"recordsSizeInBytes":%d`, size)
	if code != 0 {
		records = `"records":null`
	}
	req := json.RawMessage(fmt.Sprintf(`{"replicaId":-1,"maxWaitMs":500,"minBytes":1,"maxBytes":52428800,"isolationLevel":0,"sessionId":0,"sessionEpoch":0,"topics":[{"topic":%q,"partitions":[{"partition":0,"currentLeaderEpoch":4,"fetchOffset":0,"lastFetchedEpoch":-1,"logStartOffset":-1,"partitionMaxBytes":1048576}]}],"forgottenTopicsData":[],"rackId":""}`, topic))
	resp := json.RawMessage(fmt.Sprintf(`{"throttleTimeMs":0,"errorCode":0,"sessionId":0,"responses":[{"topic":%q,"partitions":[{"partitionIndex":0,"errorCode":%d,"highWatermark":100,"lastStableOffset":100,"logStartOffset":0,"abortedTransactions":null,"preferredReadReplica":-1,%s}]}]}`, topic, code, records))
	return Line(t, c, 1, 12, "FETCH", corr, req, resp)
}

// CreateTopics creates one topic; a non-zero code fails with message.
func CreateTopics(t time.Time, c Conn, corr int32, topic, topicID string, code int16, message string) string {
	req := obj{"topics": []obj{{"name": topic, "numPartitions": 6, "replicationFactor": 3, "assignments": []any{}, "configs": []any{}}}, "timeoutMs": 30000, "validateOnly": false}
	var msg any
	if code != 0 {
		msg, topicID = message, "AAAAAAAAAAAAAAAAAAAAAA"
	}
	resp := obj{"throttleTimeMs": 0, "topics": []obj{{"name": topic, "topicId": topicID, "errorCode": code, "errorMessage": msg, "numPartitions": 6, "replicationFactor": 3, "configs": []any{}}}}
	return Line(t, c, 19, 7, "CREATE_TOPICS", corr, req, resp)
}

// DeleteTopics deletes one topic by name.
func DeleteTopics(t time.Time, c Conn, corr int32, topic string, code int16) string {
	req := obj{"topics": []obj{{"name": topic, "topicId": "AAAAAAAAAAAAAAAAAAAAAA"}}, "timeoutMs": 30000}
	resp := obj{"throttleTimeMs": 0, "responses": []obj{{"name": topic, "topicId": "AAAAAAAAAAAAAAAAAAAAAA", "errorCode": code, "errorMessage": nil}}}
	return Line(t, c, 20, 6, "DELETE_TOPICS", corr, req, resp)
}

// FetchByID is a consumer Fetch v16, which names the topic only by id.
func FetchByID(t time.Time, c Conn, corr int32, topicID string, code int16, size int) string {
	records := fmt.Sprintf(`"recordsSizeInBytes":%d`, size)
	if code != 0 {
		records = `"records":null`
	}
	req := json.RawMessage(fmt.Sprintf(`{"maxWaitMs":500,"minBytes":1,"maxBytes":52428800,"isolationLevel":0,"sessionId":0,"sessionEpoch":0,"topics":[{"topicId":%q,"partitions":[{"partition":0,"currentLeaderEpoch":4,"fetchOffset":48000,"lastFetchedEpoch":-1,"logStartOffset":-1,"partitionMaxBytes":1048576}]}],"forgottenTopicsData":[],"rackId":""}`, topicID))
	resp := json.RawMessage(fmt.Sprintf(`{"throttleTimeMs":0,"errorCode":0,"sessionId":1093452771,"responses":[{"topicId":%q,"partitions":[{"partitionIndex":0,"errorCode":%d,"highWatermark":48213,"lastStableOffset":48213,"logStartOffset":0,"abortedTransactions":null,"preferredReadReplica":-1,%s}]}]}`, topicID, code, records))
	return Line(t, c, 1, 16, "FETCH", corr, req, resp)
}
