package demo

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

//go:embed sample.log
var sampleLog string

// SampleLog returns the bundled sample request log, one line per element.
func SampleLog() []string {
	return strings.Split(strings.TrimRight(sampleLog, "\n"), "\n")
}

// Brokers of the sample cluster, as their listener addresses.
var sampleBrokers = []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}

// GenerateSample builds the sample log: three brokers, 48 client
// connections that each produce or fetch many times, admin calls, denials,
// a controller-forwarded duplicate and a garbled line. It is deterministic;
// sample.log is its output (regenerate with UPDATE_GOLDEN=1 go test).
func GenerateSample() []string {
	rng := rand.New(rand.NewPCG(42, 7))
	t := time.Date(2024, 10, 25, 9, 14, 0, 0, time.UTC)
	tick := func() time.Time {
		t = t.Add(time.Duration(rng.IntN(400)+50) * time.Millisecond)
		return t
	}
	type client struct {
		conn  Conn
		topic string
		fetch bool
		corr  int32
	}
	services := []struct {
		principal, clientID, topic string
		fetch                      bool
	}{
		{"User:orders-svc", "orders-producer", "orders", false},
		{"User:billing-app", "consumer-billing-1", "orders", true},
		{"User:sa-j2z32m", "payments-producer", "payments", false},
		{"User:analytics", "consumer-analytics-1", "clicks", true},
		{"User:web-tracker", "rdkafka", "clicks", false},
		{"User:payroll-app", "consumer-payroll-1", "payroll", true},
	}
	var clients []*client
	for i := range 48 {
		s := services[i%len(services)]
		broker := sampleBrokers[i%len(sampleBrokers)]
		clients = append(clients, &client{
			conn: Conn{
				ID:        ConnID(broker, 9094, fmt.Sprintf("10.0.1.%d", 20+i), 40000+i*37, 3+i),
				Principal: s.principal, ClientID: s.clientID, Software: "apache-kafka-java/3.8.0",
			},
			topic: s.topic, fetch: s.fetch, corr: 1,
		})
	}
	admin := Conn{ID: ConnID("10.0.0.11", 9094, "10.0.1.40", 60712, 5), Principal: "User:ops-admin", ClientID: "adminclient-1", Software: "apache-kafka-java/3.8.0"}
	mallory := Conn{ID: ConnID("10.0.0.12", 9094, "10.0.1.99", 60211, 41), Principal: "User:mallory", ClientID: "rogue-producer", Software: "apache-kafka-java/3.8.0"}

	var lines []string
	lines = append(lines,
		CreateTopics(tick(), admin, 1, "orders", "Nw3xxZwVRceQiMGFMmRgCg", 0, ""),
		CreateTopics(tick(), admin, 2, "payments", "R2JSrfGMSWqToy9nt_LSyw", 0, ""),
		CreateTopics(tick(), admin, 3, "clicks", "iU8Cbt0wRoGIdPef7KFh5w", 0, ""),
		CreateTopics(tick(), admin, 4, "payroll", "x3Jq0qkvT4-3Nq8bFNvdAA", 0, ""),
	)
	// The KRaft controller's copy of a forwarded CreateTopics: skipped.
	fwd := strings.Replace(CreateTopics(tick(), admin, 4, "payroll", "x3Jq0qkvT4-3Nq8bFNvdAA", 0, ""), `"isForwarded":false`, `"isForwarded":true`, 1)
	lines = append(lines, fwd)
	for round := range 25 {
		for _, c := range clients {
			if rng.IntN(4) == 0 {
				continue
			}
			size := 600 + rng.IntN(4000)
			if c.fetch {
				lines = append(lines, Fetch(tick(), c.conn, c.corr, c.topic, 0, size))
			} else {
				lines = append(lines, Produce(tick(), c.conn, c.corr, c.topic, 0, size))
			}
			c.corr++
		}
		switch round {
		case 5:
			lines = append(lines, Produce(tick(), mallory, 7, "payroll", 29, 88))
		case 9:
			lines = append(lines, CreateTopics(tick(), admin, 5, "orders", "", 36, "Topic 'orders' already exists."))
		case 12:
			lines = append(lines, `[2024-10-25 09:15:02,001] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requ`)
		case 16:
			lines = append(lines, Fetch(tick(), mallory, 9, "payroll", 29, 0))
		case 20:
			lines = append(lines, DeleteTopics(tick(), admin, 6, "clicks", 0), DeleteTopics(tick(), admin, 7, "no-such-topic", 3))
		}
	}
	return lines
}
