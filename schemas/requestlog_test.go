package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without the host's zoneinfo

	"github.com/stretchr/testify/require"
)

// Example lines copied verbatim from FORMATS.md A.9, in the order they
// appear there.
const (
	lineProduceOK              = `[2024-10-25 09:14:03,117] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":12,"clientId":"orders-producer","requestApiKeyName":"PRODUCE"},"request":{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":"orders","partitionData":[{"index":0,"recordsSizeInBytes":1187},{"index":3,"recordsSizeInBytes":962}]}]},"response":{"responses":[{"name":"orders","partitionResponses":[{"index":0,"errorCode":0,"baseOffset":48211,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null},{"index":3,"errorCode":0,"baseOffset":47730,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null}]}],"throttleTimeMs":0},"connection":"10.0.0.11:9094-10.0.1.23:51544-17","totalTimeMs":3.912,"requestQueueTimeMs":0.061,"localTimeMs":0.842,"remoteTimeMs":2.87,"throttleTimeMs":0,"responseQueueTimeMs":0.034,"sendTimeMs":0.104,"securityProtocol":"SASL_SSL","principal":"User:orders-svc","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineProduceAcks0           = `[2024-10-25 09:14:03,219] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":9,"correlationId":3,"clientId":"rdkafka","requestApiKeyName":"PRODUCE"},"request":{"transactionalId":null,"acks":0,"timeoutMs":5000,"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]}]},"response":"","connection":"10.0.0.11:9094-10.0.1.57:40022-5","totalTimeMs":0.412,"requestQueueTimeMs":0.02,"localTimeMs":0.301,"remoteTimeMs":0.0,"throttleTimeMs":0,"responseQueueTimeMs":0.0,"sendTimeMs":0.0,"securityProtocol":"SASL_SSL","principal":"User:web-tracker","listener":"EXTERNAL","clientInformation":{"softwareName":"librdkafka","softwareVersion":"2.5.0"}} (kafka.request.logger)`
	lineProduceDenied          = `[2024-10-25 09:15:44,002] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":7,"clientId":"rogue-producer","requestApiKeyName":"PRODUCE"},"request":{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":"payroll","partitionData":[{"index":0,"recordsSizeInBytes":88}]}]},"response":{"responses":[{"name":"payroll","partitionResponses":[{"index":0,"errorCode":29,"baseOffset":-1,"logAppendTimeMs":-1,"logStartOffset":-1,"recordErrors":[],"errorMessage":null}]}],"throttleTimeMs":0},"connection":"10.0.0.11:9094-10.0.1.99:60211-41","totalTimeMs":0.53,"requestQueueTimeMs":0.05,"localTimeMs":0.38,"remoteTimeMs":0.0,"throttleTimeMs":0,"responseQueueTimeMs":0.03,"sendTimeMs":0.07,"securityProtocol":"SASL_SSL","principal":"User:mallory","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineProduceTooLarge        = `[2024-10-25 09:16:01,774] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":19,"clientId":"orders-producer","requestApiKeyName":"PRODUCE"},"request":{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":"orders","partitionData":[{"index":2,"recordsSizeInBytes":2097664}]}]},"response":{"responses":[{"name":"orders","partitionResponses":[{"index":2,"errorCode":10,"baseOffset":-1,"logAppendTimeMs":-1,"logStartOffset":-1,"recordErrors":[],"errorMessage":null}]}],"throttleTimeMs":0},"connection":"10.0.0.11:9094-10.0.1.23:51544-17","totalTimeMs":2.11,"requestQueueTimeMs":0.04,"localTimeMs":1.9,"remoteTimeMs":0.0,"throttleTimeMs":0,"responseQueueTimeMs":0.05,"sendTimeMs":0.12,"securityProtocol":"SASL_SSL","principal":"User:orders-svc","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineFetchByTopicID         = `[2024-10-25 09:14:05,630] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":1,"requestApiVersion":16,"correlationId":41,"clientId":"consumer-billing-1","requestApiKeyName":"FETCH"},"request":{"maxWaitMs":500,"minBytes":1,"maxBytes":52428800,"isolationLevel":0,"sessionId":0,"sessionEpoch":0,"topics":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg","partitions":[{"partition":0,"currentLeaderEpoch":4,"fetchOffset":48000,"lastFetchedEpoch":-1,"logStartOffset":-1,"partitionMaxBytes":1048576}]}],"forgottenTopicsData":[],"rackId":""},"response":{"throttleTimeMs":0,"errorCode":0,"sessionId":1093452771,"responses":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg","partitions":[{"partitionIndex":0,"errorCode":0,"highWatermark":48213,"lastStableOffset":48213,"logStartOffset":0,"abortedTransactions":null,"preferredReadReplica":-1,"recordsSizeInBytes":52811}]}]},"connection":"10.0.0.11:9094-10.0.1.61:38876-22","totalTimeMs":1.733,"requestQueueTimeMs":0.058,"localTimeMs":0.91,"remoteTimeMs":0.0,"throttleTimeMs":0,"responseQueueTimeMs":0.041,"sendTimeMs":0.724,"securityProtocol":"SASL_SSL","principal":"User:billing-app","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.7.1"}} (kafka.request.logger)`
	lineFetchDenied            = `[2024-10-25 09:17:10,010] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":1,"requestApiVersion":16,"correlationId":9,"clientId":"consumer-snoop-1","requestApiKeyName":"FETCH"},"request":{"maxWaitMs":500,"minBytes":1,"maxBytes":52428800,"isolationLevel":0,"sessionId":0,"sessionEpoch":0,"topics":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg","partitions":[{"partition":0,"currentLeaderEpoch":4,"fetchOffset":0,"lastFetchedEpoch":-1,"logStartOffset":-1,"partitionMaxBytes":1048576}]}],"forgottenTopicsData":[],"rackId":""},"response":{"throttleTimeMs":0,"errorCode":0,"sessionId":0,"responses":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg","partitions":[{"partitionIndex":0,"errorCode":29,"highWatermark":-1,"lastStableOffset":-1,"logStartOffset":-1,"abortedTransactions":[],"preferredReadReplica":-1,"records":null}]}]},"connection":"10.0.0.11:9094-10.0.1.99:60302-44","totalTimeMs":0.61,"requestQueueTimeMs":0.03,"localTimeMs":0.45,"remoteTimeMs":0.0,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.09,"securityProtocol":"SASL_SSL","principal":"User:mallory","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.7.1"}} (kafka.request.logger)`
	lineCreateTopicsOK         = `[2024-10-25 09:20:11,402] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":19,"requestApiVersion":7,"correlationId":3,"clientId":"adminclient-1","requestApiKeyName":"CREATE_TOPICS"},"request":{"topics":[{"name":"orders","numPartitions":6,"replicationFactor":3,"assignments":[],"configs":[{"name":"retention.ms","value":"604800000"}]}],"timeoutMs":30000,"validateOnly":false},"response":{"throttleTimeMs":0,"topics":[{"name":"orders","topicId":"Nw3xxZwVRceQiMGFMmRgCg","errorCode":0,"errorMessage":null,"numPartitions":6,"replicationFactor":3,"configs":[{"name":"cleanup.policy","value":"delete","readOnly":false,"configSource":5,"isSensitive":false},{"name":"compression.type","value":"producer","readOnly":false,"configSource":5,"isSensitive":false},{"name":"retention.ms","value":"604800000","readOnly":false,"configSource":1,"isSensitive":false}]}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":38.211,"requestQueueTimeMs":0.072,"localTimeMs":0.913,"remoteTimeMs":37.04,"throttleTimeMs":0,"responseQueueTimeMs":0.061,"sendTimeMs":0.125,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineCreateTopicsExists     = `[2024-10-25 09:21:02,995] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":19,"requestApiVersion":7,"correlationId":4,"clientId":"adminclient-1","requestApiKeyName":"CREATE_TOPICS"},"request":{"topics":[{"name":"orders","numPartitions":6,"replicationFactor":3,"assignments":[],"configs":[]}],"timeoutMs":30000,"validateOnly":false},"response":{"throttleTimeMs":0,"topics":[{"name":"orders","topicId":"AAAAAAAAAAAAAAAAAAAAAA","errorCode":36,"errorMessage":"Topic 'orders' already exists.","numPartitions":-1,"replicationFactor":-1,"configs":[]}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":6.87,"requestQueueTimeMs":0.05,"localTimeMs":0.81,"remoteTimeMs":5.9,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.07,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineCreateTopicsForwarded  = `[2024-10-25 09:20:11,398] DEBUG Completed request:{"isForwarded":true,"requestHeader":{"requestApiKey":19,"requestApiVersion":7,"correlationId":3,"clientId":"adminclient-1","requestApiKeyName":"CREATE_TOPICS"},"request":{"topics":[{"name":"orders","numPartitions":6,"replicationFactor":3,"assignments":[],"configs":[{"name":"retention.ms","value":"604800000"}]}],"timeoutMs":30000,"validateOnly":false},"response":{"throttleTimeMs":0,"topics":[{"name":"orders","topicId":"Nw3xxZwVRceQiMGFMmRgCg","errorCode":0,"errorMessage":null,"numPartitions":6,"replicationFactor":3,"configs":[]}]},"connection":"10.0.0.21:9093-10.0.0.11:43118-4","totalTimeMs":31.5,"requestQueueTimeMs":0.04,"localTimeMs":2.1,"remoteTimeMs":29.2,"throttleTimeMs":0,"responseQueueTimeMs":0.05,"sendTimeMs":0.11,"securityProtocol":"PLAINTEXT","principal":"User:ops-admin","listener":"CONTROLLER","clientInformation":{"softwareName":"unknown","softwareVersion":"unknown"}} (kafka.request.logger)`
	lineDeleteTopics           = `[2024-10-25 09:30:40,511] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":20,"requestApiVersion":6,"correlationId":5,"clientId":"adminclient-1","requestApiKeyName":"DELETE_TOPICS"},"request":{"topics":[{"name":"orders-tmp","topicId":"AAAAAAAAAAAAAAAAAAAAAA"},{"name":"no-such-topic","topicId":"AAAAAAAAAAAAAAAAAAAAAA"}],"timeoutMs":30000},"response":{"throttleTimeMs":0,"responses":[{"name":"orders-tmp","topicId":"iU8Cbt0wRoGIdPef7KFh5w","errorCode":0,"errorMessage":null},{"name":"no-such-topic","topicId":"AAAAAAAAAAAAAAAAAAAAAA","errorCode":3,"errorMessage":"This server does not host this topic-partition."}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":12.4,"requestQueueTimeMs":0.05,"localTimeMs":0.7,"remoteTimeMs":11.5,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.11,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineCreatePartitions       = `[2024-10-25 09:31:15,208] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":37,"requestApiVersion":3,"correlationId":6,"clientId":"adminclient-1","requestApiKeyName":"CREATE_PARTITIONS"},"request":{"topics":[{"name":"orders","count":3,"assignments":null}],"timeoutMs":30000,"validateOnly":false},"response":{"throttleTimeMs":0,"results":[{"name":"orders","errorCode":37,"errorMessage":"The topic orders currently has 6 partition(s); 3 would not be an increase."}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":5.3,"requestQueueTimeMs":0.04,"localTimeMs":0.6,"remoteTimeMs":4.5,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineCreateAclsOK           = `[2024-10-25 09:32:00,010] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":30,"requestApiVersion":3,"correlationId":7,"clientId":"adminclient-1","requestApiKeyName":"CREATE_ACLS"},"request":{"creations":[{"resourceType":2,"resourceName":"orders","resourcePatternType":3,"principal":"User:billing-app","host":"*","operation":3,"permissionType":3}]},"response":{"throttleTimeMs":0,"results":[{"errorCode":0,"errorMessage":""}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":9.1,"requestQueueTimeMs":0.05,"localTimeMs":0.6,"remoteTimeMs":8.3,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineCreateAclsDenied       = `[2024-10-25 09:32:05,730] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":30,"requestApiVersion":3,"correlationId":2,"clientId":"adminclient-7","requestApiKeyName":"CREATE_ACLS"},"request":{"creations":[{"resourceType":4,"resourceName":"kafka-cluster","resourcePatternType":3,"principal":"User:mallory","host":"*","operation":2,"permissionType":3}]},"response":{"throttleTimeMs":0,"results":[{"errorCode":31,"errorMessage":"Request Request(processor=0, connectionId=10.0.0.21:9093-10.0.0.11:43118-4, session=..., listenerName=ListenerName(CONTROLLER), securityProtocol=PLAINTEXT, buffer=null, envelope=Some(...)) is not authorized."}]},"connection":"10.0.0.11:9094-10.0.1.99:60340-46","totalTimeMs":4.2,"requestQueueTimeMs":0.04,"localTimeMs":0.5,"remoteTimeMs":3.5,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:mallory","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineDeleteAcls             = `[2024-10-25 09:33:12,441] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":31,"requestApiVersion":3,"correlationId":8,"clientId":"adminclient-1","requestApiKeyName":"DELETE_ACLS"},"request":{"filters":[{"resourceTypeFilter":2,"resourceNameFilter":"orders","patternTypeFilter":3,"principalFilter":"User:billing-app","hostFilter":null,"operation":3,"permissionType":3}]},"response":{"throttleTimeMs":0,"filterResults":[{"errorCode":0,"errorMessage":null,"matchingAcls":[{"errorCode":0,"errorMessage":null,"resourceType":2,"resourceName":"orders","patternType":3,"principal":"User:billing-app","host":"*","operation":3,"permissionType":3}]}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":8.8,"requestQueueTimeMs":0.05,"localTimeMs":0.6,"remoteTimeMs":8.0,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineDeleteGroups           = `[2024-10-25 09:34:01,003] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":42,"requestApiVersion":2,"correlationId":9,"clientId":"adminclient-1","requestApiKeyName":"DELETE_GROUPS"},"request":{"groupsNames":["billing-app","old-group"]},"response":{"throttleTimeMs":0,"results":[{"groupId":"billing-app","errorCode":0},{"groupId":"old-group","errorCode":69}]},"connection":"10.0.0.12:9094-10.0.1.40:53110-9","totalTimeMs":3.4,"requestQueueTimeMs":0.05,"localTimeMs":0.4,"remoteTimeMs":2.8,"throttleTimeMs":0,"responseQueueTimeMs":0.03,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineAlterConfigs           = `[2024-10-25 09:35:22,118] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":33,"requestApiVersion":2,"correlationId":10,"clientId":"adminclient-1","requestApiKeyName":"ALTER_CONFIGS"},"request":{"resources":[{"resourceType":2,"resourceName":"orders","configs":[{"name":"retention.ms","value":"86400000"}]}],"validateOnly":false},"response":{"throttleTimeMs":0,"responses":[{"errorCode":0,"errorMessage":null,"resourceType":2,"resourceName":"orders"}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":7.7,"requestQueueTimeMs":0.05,"localTimeMs":0.5,"remoteTimeMs":7.0,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineIncAlterConfigsInvalid = `[2024-10-25 09:36:40,901] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":44,"requestApiVersion":1,"correlationId":11,"clientId":"adminclient-1","requestApiKeyName":"INCREMENTAL_ALTER_CONFIGS"},"request":{"resources":[{"resourceType":2,"resourceName":"orders","configs":[{"name":"retention.ms","configOperation":0,"value":"abc"}]}],"validateOnly":false},"response":{"throttleTimeMs":0,"responses":[{"errorCode":40,"errorMessage":"Invalid value abc for configuration retention.ms: Not a number of type LONG","resourceType":2,"resourceName":"orders"}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":6.1,"requestQueueTimeMs":0.04,"localTimeMs":0.5,"remoteTimeMs":5.4,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
	lineIncAlterConfigsHidden  = `[2024-10-25 09:37:02,440] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":44,"requestApiVersion":1,"correlationId":12,"clientId":"adminclient-1","requestApiKeyName":"INCREMENTAL_ALTER_CONFIGS"},"request":{"resources":[{"resourceType":4,"resourceName":"1","configs":[{"name":"listener.name.external.ssl.key.password","configOperation":0,"value":"[hidden]"}]}],"validateOnly":false},"response":{"throttleTimeMs":0,"responses":[{"errorCode":0,"errorMessage":null,"resourceType":4,"resourceName":"1"}]},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":12.0,"requestQueueTimeMs":0.04,"localTimeMs":0.6,"remoteTimeMs":11.2,"throttleTimeMs":0,"responseQueueTimeMs":0.04,"sendTimeMs":0.1,"securityProtocol":"SASL_SSL","principal":"User:ops-admin","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`
)

// exampleLines are all A.9 lines, for the fuzz seeds and the codec tests.
var exampleLines = []string{
	lineProduceOK, lineProduceAcks0, lineProduceDenied, lineProduceTooLarge,
	lineFetchByTopicID, lineFetchDenied,
	lineCreateTopicsOK, lineCreateTopicsExists, lineCreateTopicsForwarded,
	lineDeleteTopics, lineCreatePartitions, lineCreateAclsOK, lineCreateAclsDenied,
	lineDeleteAcls, lineDeleteGroups, lineAlterConfigs,
	lineIncAlterConfigsInvalid, lineIncAlterConfigsHidden,
}

const (
	log4jPrefixLen = len("[2024-10-25 09:14:03,117] DEBUG Completed request:")
	log4jSuffix    = " (kafka.request.logger)"
)

// bareJSON strips the log4j wrapper off an A.9 line.
func bareJSON(line string) string {
	if !strings.HasSuffix(line, log4jSuffix) || !strings.Contains(line[:log4jPrefixLen], "Completed request:") {
		panic("not a wrapped A.9 line: " + line[:40])
	}
	return strings.TrimSuffix(line[log4jPrefixLen:], log4jSuffix)
}

// edit replaces the one occurrence of old in s; it panics when old is not
// there, so a typo cannot turn a negative case into a vacuous one.
func edit(s, old, replacement string) string {
	if n := strings.Count(s, old); n != 1 {
		panic(fmt.Sprintf("edit: %q occurs %d times, want 1", old, n))
	}
	return strings.Replace(s, old, replacement, 1)
}

// ts is a log4j timestamp of 2024-10-25 in UTC.
func ts(h, m, s, ms int) time.Time {
	return time.Date(2024, 10, 25, h, m, s, ms*int(time.Millisecond), time.UTC)
}

func TestParseLineExamples(t *testing.T) {
	const (
		conn17  = "10.0.0.11:9094-10.0.1.23:51544-17"
		connAdm = "10.0.0.11:9094-10.0.1.40:60712-5"
		topicID = "Nw3xxZwVRceQiMGFMmRgCg"
	)
	for _, tc := range []struct {
		name          string
		line          string
		apiKey        int16
		apiVersion    int16
		apiName       string
		correlationID int32
		clientID      string
		connection    string
		principal     string
		software      string
		time          time.Time
		topics        []string
		recordBytes   int64
		response      string // verbatim response body, when checked
	}{
		{
			name: "produce v11 success", line: lineProduceOK,
			apiKey: 0, apiVersion: 11, apiName: "PRODUCE", correlationID: 12,
			clientID: "orders-producer", connection: conn17, principal: "User:orders-svc",
			software: "apache-kafka-java/3.8.0", time: ts(9, 14, 3, 117),
			topics: []string{"orders"}, recordBytes: 1187 + 962,
		},
		{
			name: "produce acks=0 has an empty response", line: lineProduceAcks0,
			apiKey: 0, apiVersion: 9, apiName: "PRODUCE", correlationID: 3,
			clientID: "rdkafka", connection: "10.0.0.11:9094-10.0.1.57:40022-5", principal: "User:web-tracker",
			software: "librdkafka/2.5.0", time: ts(9, 14, 3, 219),
			topics: []string{"clicks"}, recordBytes: 4301, response: `""`,
		},
		{
			name: "produce topic authorization failed", line: lineProduceDenied,
			apiKey: 0, apiVersion: 11, apiName: "PRODUCE", correlationID: 7,
			clientID: "rogue-producer", connection: "10.0.0.11:9094-10.0.1.99:60211-41", principal: "User:mallory",
			software: "apache-kafka-java/3.8.0", time: ts(9, 15, 44, 2),
			topics: []string{"payroll"}, recordBytes: 88,
		},
		{
			name: "produce message too large", line: lineProduceTooLarge,
			apiKey: 0, apiVersion: 11, apiName: "PRODUCE", correlationID: 19,
			clientID: "orders-producer", connection: conn17, principal: "User:orders-svc",
			software: "apache-kafka-java/3.8.0", time: ts(9, 16, 1, 774),
			topics: []string{"orders"}, recordBytes: 2097664,
		},
		{
			name: "fetch v16 by topicId", line: lineFetchByTopicID,
			apiKey: 1, apiVersion: 16, apiName: "FETCH", correlationID: 41,
			clientID: "consumer-billing-1", connection: "10.0.0.11:9094-10.0.1.61:38876-22", principal: "User:billing-app",
			software: "apache-kafka-java/3.7.1", time: ts(9, 14, 5, 630),
			topics: []string{topicID}, recordBytes: 52811,
		},
		{
			name: "fetch denied with records null", line: lineFetchDenied,
			apiKey: 1, apiVersion: 16, apiName: "FETCH", correlationID: 9,
			clientID: "consumer-snoop-1", connection: "10.0.0.11:9094-10.0.1.99:60302-44", principal: "User:mallory",
			software: "apache-kafka-java/3.7.1", time: ts(9, 17, 10, 10),
			topics: []string{topicID}, recordBytes: 0,
		},
		{
			name: "create topics v7 success", line: lineCreateTopicsOK,
			apiKey: 19, apiVersion: 7, apiName: "CREATE_TOPICS", correlationID: 3,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 20, 11, 402),
		},
		{
			name: "create topics already exists", line: lineCreateTopicsExists,
			apiKey: 19, apiVersion: 7, apiName: "CREATE_TOPICS", correlationID: 4,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 21, 2, 995),
		},
		{
			name: "delete topics v6", line: lineDeleteTopics,
			apiKey: 20, apiVersion: 6, apiName: "DELETE_TOPICS", correlationID: 5,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 30, 40, 511),
		},
		{
			name: "create partitions invalid", line: lineCreatePartitions,
			apiKey: 37, apiVersion: 3, apiName: "CREATE_PARTITIONS", correlationID: 6,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 31, 15, 208),
		},
		{
			name: "create acls v3 success", line: lineCreateAclsOK,
			apiKey: 30, apiVersion: 3, apiName: "CREATE_ACLS", correlationID: 7,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 32, 0, 10),
			response: `{"throttleTimeMs":0,"results":[{"errorCode":0,"errorMessage":""}]}`,
		},
		{
			name: "create acls cluster authorization failed", line: lineCreateAclsDenied,
			apiKey: 30, apiVersion: 3, apiName: "CREATE_ACLS", correlationID: 2,
			clientID: "adminclient-7", connection: "10.0.0.11:9094-10.0.1.99:60340-46", principal: "User:mallory",
			software: "apache-kafka-java/3.8.0", time: ts(9, 32, 5, 730),
		},
		{
			name: "delete acls v3", line: lineDeleteAcls,
			apiKey: 31, apiVersion: 3, apiName: "DELETE_ACLS", correlationID: 8,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 33, 12, 441),
		},
		{
			name: "delete groups v2", line: lineDeleteGroups,
			apiKey: 42, apiVersion: 2, apiName: "DELETE_GROUPS", correlationID: 9,
			clientID: "adminclient-1", connection: "10.0.0.12:9094-10.0.1.40:53110-9", principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 34, 1, 3),
		},
		{
			name: "alter configs v2", line: lineAlterConfigs,
			apiKey: 33, apiVersion: 2, apiName: "ALTER_CONFIGS", correlationID: 10,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 35, 22, 118),
		},
		{
			name: "incremental alter configs invalid", line: lineIncAlterConfigsInvalid,
			apiKey: 44, apiVersion: 1, apiName: "INCREMENTAL_ALTER_CONFIGS", correlationID: 11,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 36, 40, 901),
		},
		{
			name: "incremental alter configs hidden password", line: lineIncAlterConfigsHidden,
			apiKey: 44, apiVersion: 1, apiName: "INCREMENTAL_ALTER_CONFIGS", correlationID: 12,
			clientID: "adminclient-1", connection: connAdm, principal: "User:ops-admin",
			software: "apache-kafka-java/3.8.0", time: ts(9, 37, 2, 440),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), ParseOptions{Cluster: "prod-eu"})
			require.NoError(t, err)
			require.NotNil(t, r)

			require.Equal(t, "prod-eu", r.Cluster)
			require.Equal(t, tc.apiKey, r.APIKey)
			require.Equal(t, tc.apiVersion, r.APIVersion)
			require.Equal(t, tc.apiName, r.APIName)
			require.Equal(t, tc.correlationID, r.CorrelationID)
			require.Equal(t, tc.clientID, r.ClientID)
			require.Equal(t, tc.connection, r.Connection)
			require.Equal(t, tc.principal, r.Principal)
			require.Equal(t, "SASL_SSL", r.SecurityProtocol)
			require.Equal(t, "EXTERNAL", r.Listener)
			require.Equal(t, tc.software, r.SoftwareName+"/"+r.SoftwareVersion)
			require.Positive(t, r.TotalTimeMs)

			require.True(t, tc.time.Equal(r.Time), "time %v, want %v", r.Time, tc.time)
			require.Equal(t, time.UTC, r.Time.Location())

			require.Equal(t, tc.topics, r.Topics)
			require.Equal(t, tc.recordBytes, r.RecordBytes)

			if r.APIKey == APIProduce || r.APIKey == APIFetch {
				// Produce and Fetch keep only topics, bytes and outcomes: their
				// bodies are never needed again, and they are most lines.
				require.Nil(t, r.Request)
				require.Nil(t, r.Response)
				require.Len(t, r.TopicErrors, len(r.Topics))
				require.Len(t, r.TopicBytes, len(r.Topics))
			} else {
				// Other bodies stay, as JSON equal to what Kafka wrote.
				require.True(t, json.Valid(r.Request), "request %s", r.Request)
				require.True(t, json.Valid(r.Response), "response %s", r.Response)
				if tc.response != "" {
					require.JSONEq(t, tc.response, string(r.Response))
				}
			}
			require.Zero(t, r.SourcePartition)
			require.Zero(t, r.SourceOffset)
		})
	}
}

func TestParseLineTimeLocation(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		loc  *time.Location
		want time.Time
	}{
		{name: "nil location is UTC", loc: nil, want: ts(9, 14, 3, 117)},
		{name: "explicit UTC", loc: time.UTC, want: ts(9, 14, 3, 117)},
		// 2024-10-25 is still CEST (+02:00); the switch is on 2024-10-27.
		{name: "Europe/Berlin summer time", loc: berlin, want: ts(7, 14, 3, 117)},
		{name: "fixed zone west of UTC", loc: time.FixedZone("UTC-7", -7*3600), want: ts(16, 14, 3, 117)},
		{name: "fixed zone east of UTC", loc: time.FixedZone("UTC+5:30", 5*3600+1800), want: ts(3, 44, 3, 117)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(lineProduceOK), ParseOptions{
				Location: tc.loc,
				Fallback: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), // ignored for log4j lines
			})
			require.NoError(t, err)
			require.True(t, tc.want.Equal(r.Time), "time %v, want %v", r.Time, tc.want)
			require.Equal(t, time.UTC, r.Time.Location(), "record times are always UTC")
		})
	}
}

func TestParseLineBareJSON(t *testing.T) {
	fallback := time.Date(2024, 10, 25, 11, 14, 3, 987654321, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name        string
		line        string
		opts        ParseOptions
		want        time.Time
		apiName     string
		topics      []string
		recordBytes int64
	}{
		{
			name: "produce uses the fallback time", line: bareJSON(lineProduceOK),
			opts: ParseOptions{Fallback: fallback}, want: fallback,
			apiName: "PRODUCE", topics: []string{"orders"}, recordBytes: 2149,
		},
		{
			name: "location does not shift the fallback", line: bareJSON(lineFetchByTopicID),
			opts: ParseOptions{Fallback: fallback, Location: time.FixedZone("UTC-7", -7*3600)}, want: fallback,
			apiName: "FETCH", topics: []string{"Nw3xxZwVRceQiMGFMmRgCg"}, recordBytes: 52811,
		},
		{
			name: "zero fallback gives the zero time", line: bareJSON(lineCreateTopicsOK),
			opts: ParseOptions{}, want: time.Time{}, apiName: "CREATE_TOPICS",
		},
		{
			name: "trailing CRLF", line: bareJSON(lineDeleteAcls) + "\r\n",
			opts: ParseOptions{Fallback: fallback}, want: fallback, apiName: "DELETE_ACLS",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), tc.opts)
			require.NoError(t, err)
			require.True(t, tc.want.Equal(r.Time), "time %v, want %v", r.Time, tc.want)
			require.Equal(t, time.UTC, r.Time.Location())
			require.Equal(t, tc.apiName, r.APIName)
			require.Equal(t, tc.topics, r.Topics)
			require.Equal(t, tc.recordBytes, r.RecordBytes)
		})
	}
}

func TestParseLineBareJSONMatchesWrapped(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
	}{
		{name: "produce", line: lineProduceOK},
		{name: "fetch", line: lineFetchDenied},
		{name: "incremental alter configs", line: lineIncAlterConfigsHidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapped, err := ParseLine([]byte(tc.line), ParseOptions{Cluster: "c"})
			require.NoError(t, err)
			bare, err := ParseLine([]byte(bareJSON(tc.line)), ParseOptions{Cluster: "c", Fallback: wrapped.Time})
			require.NoError(t, err)
			require.Equal(t, wrapped, bare)
		})
	}
}

func TestParseLineForwarded(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
	}{
		{name: "controller copy of create topics", line: lineCreateTopicsForwarded},
		{name: "bare JSON", line: bareJSON(lineCreateTopicsForwarded)},
		{name: "forwarded produce", line: edit(lineProduceOK, `"isForwarded":false`, `"isForwarded":true`)},
		// A forwarded line is dropped before it is validated.
		{name: "forwarded without a header", line: `{"isForwarded":true}`},
		{name: "trailing CRLF", line: lineCreateTopicsForwarded + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), ParseOptions{})
			require.Nil(t, r)
			require.ErrorIs(t, err, ErrForwarded)
			var pe *ParseError
			require.False(t, errors.As(err, &pe), "a forwarded line is skipped, not dead-lettered")
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	bare := bareJSON(lineProduceOK)
	const header = `"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":12,"clientId":"orders-producer","requestApiKeyName":"PRODUCE"},`
	const topicData = `"topicData":[{"name":"orders","partitionData":[{"index":0,"recordsSizeInBytes":1187},{"index":3,"recordsSizeInBytes":962}]}]`
	const conn = `"connection":"10.0.0.11:9094-10.0.1.23:51544-17",`
	// tooLarge is a valid line padded to one byte over the limit.
	tooLarge := edit(lineProduceOK, `"clientId":"orders-producer"`,
		`"clientId":"orders-producer`+strings.Repeat("x", MaxLineBytes+1-len(lineProduceOK))+`"`)

	for _, tc := range []struct {
		name   string
		line   string
		reason string
	}{
		// Empty.
		{name: "empty", line: "", reason: ReasonEmpty},
		{name: "only a newline", line: "\n", reason: ReasonEmpty},
		{name: "only CRLF and blanks", line: " \t\r\n", reason: ReasonEmpty},

		// Size.
		{name: "one byte over MaxLineBytes", line: tooLarge, reason: ReasonTooLarge},
		{name: "garbage over MaxLineBytes", line: strings.Repeat("\xff", MaxLineBytes+1), reason: ReasonTooLarge},

		// Encoding.
		{name: "invalid UTF-8 in a string", line: edit(lineProduceOK, `"orders-producer"`, "\"orders-\xff\xfeproducer\""), reason: ReasonInvalidUTF8},
		{name: "truncated UTF-8 sequence", line: bare + "\xe2\x82", reason: ReasonInvalidUTF8},
		{name: "latin-1 text", line: "[2024-10-25 09:14:03,117] DEBUG caf\xe9", reason: ReasonInvalidUTF8},

		// Not a request log.
		{name: "random text", line: "hello, world", reason: ReasonNotRequest},
		{name: "stack trace line", line: "\tat kafka.network.Processor.run(SocketServer.scala:1031)", reason: ReasonNotRequest},
		{name: "JSON null", line: "null", reason: ReasonNotRequest},
		{name: "leading blank before the JSON", line: " " + bare, reason: ReasonNotRequest},
		{name: "bracket but no closing bracket", line: "[2024-10-25 09:14:03,117 DEBUG Completed request:{}", reason: ReasonNotRequest},
		{
			name:   "log line of another logger",
			line:   `[2024-10-25 09:14:03,117] INFO [SocketServer listenerType=BROKER, nodeId=1] Enabling request processing. (kafka.network.SocketServer)`,
			reason: ReasonNotRequest,
		},
		{
			name:   "RequestChannel trace line",
			line:   `[2024-10-25 09:14:03,117] TRACE Processor 3 received request: RequestHeader(apiKey=PRODUCE, apiVersion=11, clientId=orders-producer, correlationId=12, headerVersion=2) -- ProduceRequestData(transactionalId=null, acks=-1, timeoutMs=30000) (kafka.network.RequestChannel$)`,
			reason: ReasonNotRequest,
		},
		{
			name:   "authorizer log line",
			line:   `[2024-10-25 09:14:03,117] INFO Principal = User:bob is Denied operation = READ from host = 127.0.0.1 on resource = Topic:LITERAL:alpha for request = Fetch with resourceRefCount = 1 based on rule DefaultDeny (kafka.authorizer.logger)`,
			reason: ReasonNotRequest,
		},

		// Pre-2.8 text format.
		{
			name:   "legacy DEBUG line",
			line:   `[2020-11-02 10:00:00,001] DEBUG Completed request:RequestHeader(apiKey=PRODUCE, apiVersion=8, clientId=producer-1, correlationId=5) -- {acks=-1,timeout=30000,numPartitions=1},response:{responses=[{topic=orders,partition_responses=[{partition=0,error_code=0,base_offset=42}]}]} from connection 127.0.0.1:9092-127.0.0.1:54321-0;totalTime:1.2,requestQueueTime:0.1,localTime:0.9,remoteTime:0.0,throttleTime:0,responseQueueTime:0.1,sendTime:0.1,securityProtocol:PLAINTEXT,principal:User:ANONYMOUS,listener:PLAINTEXT,clientInformation:ClientInformation(softwareName=apache-kafka-java, softwareVersion=2.7.0),forwarded:false (kafka.request.logger)`,
			reason: ReasonLegacyFormat,
		},
		{
			name:   "legacy TRACE line",
			line:   `[2020-11-02 10:00:00,002] TRACE Completed request:RequestHeader(apiKey=FETCH, apiVersion=11, clientId=consumer-1, correlationId=9) -- {replica_id=-1,max_wait_time=500,min_bytes=1},response:{throttle_time_ms=0} from connection 127.0.0.1:9092-127.0.0.1:54322-1;totalTime:500.2,requestQueueTime:0.1,localTime:0.5,remoteTime:499.5,throttleTime:0,responseQueueTime:0.1,sendTime:0.1,securityProtocol:PLAINTEXT,principal:User:ANONYMOUS,listener:PLAINTEXT,clientInformation:ClientInformation(softwareName=apache-kafka-java, softwareVersion=2.7.0),forwarded:false (kafka.request.logger)`,
			reason: ReasonLegacyFormat,
		},

		// Timestamp.
		{name: "unparsable timestamp", line: edit(lineProduceOK, "[2024-10-25 09:14:03,117]", "[yesterday]"), reason: ReasonBadTimestamp},
		{name: "ISO-8601 timestamp", line: edit(lineProduceOK, "[2024-10-25 09:14:03,117]", "[2024-10-25T09:14:03.117Z]"), reason: ReasonBadTimestamp},
		{name: "timestamp without millis", line: edit(lineProduceOK, "[2024-10-25 09:14:03,117]", "[2024-10-25 09:14:03]"), reason: ReasonBadTimestamp},
		{name: "month 13", line: edit(lineProduceOK, "[2024-10-25 09:14:03,117]", "[2024-13-25 09:14:03,117]"), reason: ReasonBadTimestamp},

		// JSON syntax.
		{name: "truncated log4j line", line: lineProduceOK[:len(lineProduceOK)/2], reason: ReasonBadJSON},
		{name: "truncated bare JSON", line: bare[:len(bare)-1], reason: ReasonBadJSON},
		{name: "nothing after the prefix", line: "[2024-10-25 09:14:03,117] DEBUG Completed request:", reason: ReasonBadJSON},
		{name: "text after the logger", line: lineProduceOK + " extra", reason: ReasonBadJSON},
		{name: "two objects", line: bare + bare, reason: ReasonBadJSON},

		// Required fields.
		{name: "empty object", line: "{}", reason: ReasonMissingField},
		{name: "missing requestHeader", line: edit(lineProduceOK, header, ""), reason: ReasonMissingField},
		{name: "null requestHeader", line: edit(lineProduceOK, header, `"requestHeader":null,`), reason: ReasonMissingField},
		{name: "missing requestApiKey", line: edit(lineProduceOK, `"requestApiKey":0,`, ""), reason: ReasonMissingField},
		{name: "missing requestApiKeyName", line: edit(lineProduceOK, `,"requestApiKeyName":"PRODUCE"`, ""), reason: ReasonMissingField},
		{name: "missing connection", line: edit(lineProduceOK, conn, ""), reason: ReasonMissingField},
		{name: "null connection", line: edit(lineProduceOK, conn, `"connection":null,`), reason: ReasonMissingField},
		{name: "empty connection", line: edit(lineProduceOK, conn, `"connection":"",`), reason: ReasonMissingField},
		{name: "missing principal", line: edit(lineProduceOK, `"principal":"User:orders-svc",`, ""), reason: ReasonMissingField},

		// Wrong JSON types.
		{name: "correlationId as a string", line: edit(lineProduceOK, `"correlationId":12`, `"correlationId":"12"`), reason: ReasonBadJSON},
		{name: "requestApiKey as a string", line: edit(lineProduceOK, `"requestApiKey":0`, `"requestApiKey":"0"`), reason: ReasonBadJSON},
		{name: "requestApiKey overflows int16", line: edit(lineProduceOK, `"requestApiKey":0`, `"requestApiKey":32768`), reason: ReasonBadJSON},
		{name: "correlationId is fractional", line: edit(lineProduceOK, `"correlationId":12`, `"correlationId":12.5`), reason: ReasonBadJSON},
		{name: "connection as a number", line: edit(lineProduceOK, `"connection":"10.0.0.11:9094-10.0.1.23:51544-17"`, `"connection":17`), reason: ReasonBadJSON},
		{name: "isForwarded as a string", line: edit(lineProduceOK, `"isForwarded":false`, `"isForwarded":"false"`), reason: ReasonBadJSON},
		{name: "requestHeader as an array", line: edit(lineProduceOK, header, `"requestHeader":[0,11,12],`), reason: ReasonBadJSON},
		{name: "totalTimeMs as a string", line: edit(lineProduceOK, `"totalTimeMs":3.912`, `"totalTimeMs":"3.912"`), reason: ReasonBadJSON},

		// Produce and Fetch bodies are read at parse time.
		{name: "produce topicData is an object", line: edit(lineProduceOK, topicData, `"topicData":{"name":"orders"}`), reason: ReasonBadBody},
		{name: "produce topicData is a string", line: edit(lineProduceOK, topicData, `"topicData":"orders"`), reason: ReasonBadBody},
		{name: "produce recordsSizeInBytes is a string", line: edit(lineProduceOK, `"recordsSizeInBytes":1187`, `"recordsSizeInBytes":"1187"`), reason: ReasonBadBody},
		{name: "produce request is an array", line: edit(lineProduceAcks0, `"request":{"transactionalId":null,"acks":0,"timeoutMs":5000,"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]}]}`, `"request":[]`), reason: ReasonBadBody},
		{name: "produce request is a non-empty string", line: edit(lineProduceAcks0, `"request":{"transactionalId":null,"acks":0,"timeoutMs":5000,"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]}]}`, `"request":"produce"`), reason: ReasonBadBody},
		{name: "fetch request topics is a string", line: edit(lineFetchByTopicID, `"topics":[{"topicId"`, `"topics":"orders","more":[{"topicId"`), reason: ReasonBadBody},
		{name: "fetch response partitions is a number", line: edit(lineFetchDenied, `"partitions":[{"partitionIndex":0,"errorCode":29,"highWatermark":-1,"lastStableOffset":-1,"logStartOffset":-1,"abortedTransactions":[],"preferredReadReplica":-1,"records":null}]`, `"partitions":1`), reason: ReasonBadBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), ParseOptions{Cluster: "c"})
			require.Nil(t, r)
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrForwarded)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.reason, pe.Reason, "error: %v", err)
			require.Error(t, pe.Unwrap(), "a ParseError always wraps its cause")
			require.True(t, strings.HasPrefix(err.Error(), tc.reason+": "), "error text %q", err.Error())
		})
	}
}

func TestParseLineErrorCauses(t *testing.T) {
	t.Run("syntax error says where", func(t *testing.T) {
		_, err := ParseLine([]byte(lineProduceOK[:200]), ParseOptions{})
		require.ErrorContains(t, err, "cannot parse")
	})
	t.Run("type error names the field", func(t *testing.T) {
		_, err := ParseLine([]byte(edit(lineProduceOK, `"correlationId":12`, `"correlationId":"12"`)), ParseOptions{})
		require.ErrorContains(t, err, "requestHeader.correlationId is string, want integer")
	})
	t.Run("timestamp error is kept", func(t *testing.T) {
		_, err := ParseLine([]byte(edit(lineProduceOK, "[2024-10-25 09:14:03,117]", "[2024-10-25 25:14:03,117]")), ParseOptions{})
		var pe *time.ParseError
		require.ErrorAs(t, err, &pe)
	})
}

func TestParseLineMaxLineBytesBoundary(t *testing.T) {
	padded := func(n int) string {
		return edit(lineProduceOK, `"clientId":"orders-producer"`,
			`"clientId":"orders-producer`+strings.Repeat("x", n-len(lineProduceOK))+`"`)
	}
	for _, tc := range []struct {
		name    string
		line    string
		wantErr bool
	}{
		{name: "exactly MaxLineBytes", line: padded(MaxLineBytes)},
		// The line terminator is not counted.
		{name: "MaxLineBytes plus CRLF", line: padded(MaxLineBytes) + "\r\n"},
		{name: "MaxLineBytes plus one", line: padded(MaxLineBytes + 1), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), ParseOptions{})
			if tc.wantErr {
				var pe *ParseError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, ReasonTooLarge, pe.Reason)
				return
			}
			require.NoError(t, err)
			require.Len(t, r.ClientID, MaxLineBytes-len(lineProduceOK)+len("orders-producer"))
		})
	}
}

func TestParseLineTrailingWhitespace(t *testing.T) {
	want, err := ParseLine([]byte(lineFetchByTopicID), ParseOptions{Cluster: "c"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		suffix string
	}{
		{name: "CRLF", suffix: "\r\n"},
		{name: "LF", suffix: "\n"},
		{name: "CR", suffix: "\r"},
		{name: "blanks then CRLF", suffix: " \t\r\n"},
		{name: "several CRLF", suffix: "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(lineFetchByTopicID + tc.suffix)
			orig := string(in)
			r, err := ParseLine(in, ParseOptions{Cluster: "c"})
			require.NoError(t, err)
			require.Equal(t, want, r)
			require.Equal(t, orig, string(in), "ParseLine must not modify its input")
		})
	}
}

// TestParseLineOptionalFields covers header and body shapes the A.9 lines
// do not: absent clientId (header v0), Produce v13 topic ids, absent or
// empty bodies.
func TestParseLineOptionalFields(t *testing.T) {
	for _, tc := range []struct {
		name        string
		line        string
		clientID    string
		topics      []string
		recordBytes int64
	}{
		{
			name:     "no clientId",
			line:     edit(lineCreateTopicsOK, `,"clientId":"adminclient-1"`, ""),
			clientID: "",
		},
		{
			name:     "null clientId",
			line:     edit(lineCreateTopicsOK, `"clientId":"adminclient-1"`, `"clientId":null`),
			clientID: "",
		},
		{
			name: "produce v13 by topicId",
			line: edit(lineProduceOK, `"topicData":[{"name":"orders",`, `"topicData":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg",`),
			// the name is taken when both are there; here only the id is
			clientID: "orders-producer", topics: []string{"Nw3xxZwVRceQiMGFMmRgCg"}, recordBytes: 2149,
		},
		{
			name:     "produce with two topics",
			line:     edit(lineProduceAcks0, `"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]}]`, `"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]},{"name":"views","partitionData":[{"index":0,"recordsSizeInBytes":99},{"index":1,"recordsSizeInBytes":1}]}]`),
			clientID: "rdkafka", topics: []string{"clicks", "views"}, recordBytes: 4401,
		},
		{
			name:     "produce request not computed",
			line:     edit(lineProduceAcks0, `"request":{"transactionalId":null,"acks":0,"timeoutMs":5000,"topicData":[{"name":"clicks","partitionData":[{"index":1,"recordsSizeInBytes":4301}]}]}`, `"request":""`),
			clientID: "rdkafka",
		},
		{
			name:     "fetch v12 by name with an empty response",
			line:     edit(edit(lineFetchByTopicID, `"topics":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg"`, `"topics":[{"topic":"orders"`), `"response":{"throttleTimeMs":0,"errorCode":0,"sessionId":1093452771,"responses":[{"topicId":"Nw3xxZwVRceQiMGFMmRgCg","partitions":[{"partitionIndex":0,"errorCode":0,"highWatermark":48213,"lastStableOffset":48213,"logStartOffset":0,"abortedTransactions":null,"preferredReadReplica":-1,"recordsSizeInBytes":52811}]}]}`, `"response":""`),
			clientID: "consumer-billing-1", topics: []string{"orders"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line), ParseOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.clientID, r.ClientID)
			require.Equal(t, tc.topics, r.Topics)
			require.Equal(t, tc.recordBytes, r.RecordBytes)
		})
	}
}
