package schemas

import (
	"fmt"
	"testing"
	"time"
)

// benchLine is a realistic ~1 KB Produce line (FORMATS.md A.9 shape).
const benchLine = `[2024-10-25 09:14:03,117] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":12,"clientId":"orders-producer-7f9c2a-instance-3","requestApiKeyName":"PRODUCE"},"request":{"transactionalId":null,"acks":-1,"timeoutMs":30000,"topicData":[{"name":"orders","partitionData":[{"index":0,"recordsSizeInBytes":1187},{"index":3,"recordsSizeInBytes":962},{"index":5,"recordsSizeInBytes":4411}]}]},"response":{"responses":[{"name":"orders","partitionResponses":[{"index":0,"errorCode":0,"baseOffset":48211,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null},{"index":3,"errorCode":0,"baseOffset":47730,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null},{"index":5,"errorCode":0,"baseOffset":47731,"logAppendTimeMs":-1,"logStartOffset":0,"recordErrors":[],"errorMessage":null}]}],"throttleTimeMs":0},"connection":"10.0.0.11:9094-10.0.1.23:51544-17","totalTimeMs":3.912,"requestQueueTimeMs":0.061,"localTimeMs":0.842,"remoteTimeMs":2.87,"throttleTimeMs":0,"responseQueueTimeMs":0.034,"sendTimeMs":0.104,"securityProtocol":"SASL_SSL","principal":"User:orders-svc","listener":"EXTERNAL","clientInformation":{"softwareName":"apache-kafka-java","softwareVersion":"3.8.0"}} (kafka.request.logger)`

func BenchmarkParseLine(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		if _, err := ParseLine([]byte(benchLine), ParseOptions{Cluster: "c"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestLogCodec(b *testing.B) {
	r, err := ParseLine([]byte(benchLine), ParseOptions{Cluster: "c"})
	if err != nil {
		b.Fatal(err)
	}
	c := &RequestLogCodec{}
	for b.Loop() {
		raw, err := c.Encode(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConnStateCodec(b *testing.B) {
	t := time.Now()
	st := &ConnState{
		Cluster: "c", Connection: "10.0.0.11:9094-10.0.1.23:51544-17", Principal: "User:orders-svc", ClientID: "orders-producer",
		ClientAddress: "10.0.1.23", Listener: "EXTERNAL", SecurityProtocol: "SASL_SSL", FirstSeen: t, LastSeen: t, Requests: 100,
		FirstProduce: &FirstRequest{Time: t, CorrelationID: 12, Topics: []string{"orders"}},
		Topics:       []TopicAccess{{Topic: "orders", Total: Access{Produce: 99, Bytes: 1 << 20, First: t, Last: t}}},
		Epoch:        t,
	}
	c := &ConnStateCodec{}
	for b.Loop() {
		raw, err := c.Encode(st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// A busy topic's summary at its bound: every access delta to it decodes
// and re-encodes this.
func BenchmarkTopicSummaryCodec(b *testing.B) {
	t := time.Now()
	sum := &TopicSummary{Cluster: "c", Topic: "orders", Total: Access{Produce: 1e6, First: t, Last: t}, Principals: map[string]*Access{}}
	for i := range 256 {
		sum.Principals[fmt.Sprintf("User:svc-%03d", i)] = &Access{Produce: int64(i), Bytes: 1 << 20, First: t, Last: t}
	}
	c := &TopicSummaryCodec{}
	for b.Loop() {
		raw, err := c.Encode(sum)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientIP compares ClientIP with the regexp it replaced.
func BenchmarkClientIP(b *testing.B) {
	const conn = "10.0.0.11:9094-10.0.1.23:51544-17"
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			ClientIP(conn)
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			connIDPattern.FindStringSubmatch(conn)
		}
	})
}

// BenchmarkAddAccessNewKeyAtBound is a provisioning principal's summary:
// every CreateTopics names a new topic once the map is full, so each
// delta folds the least recent resource into the overflow.
func BenchmarkAddAccessNewKeyAtBound(b *testing.B) {
	const max = 256
	t0 := time.Date(2024, 10, 25, 9, 0, 0, 0, time.UTC)
	m := map[string]*Access{}
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("TOPIC:prov.orders-%d", i)
	}
	i := 0
	for b.Loop() {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		AddAccess(m, keys[i%len(keys)], Access{Admin: 1, First: at, Last: at}, max, "*")
		i++
	}
	if len(m) > max {
		b.Fatalf("%d entries, bound %d", len(m), max)
	}
}
