package route

import (
	"os"
	"testing"

	"github.com/kaudit/kaudit/schemas"
)

// FuzzRouterConfig feeds arbitrary router configs (Confluent JSON) and
// records through parse, compile and Decide: no input may panic, a config
// that compiles must route every record to declared topics only.
func FuzzRouterConfig(f *testing.F) {
	sample, err := os.ReadFile("testdata/confluent-sample.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample, "crn://mds1.example.com/kafka=63REM3VWREiYtMuVxZeplA/topic=accounting-x", "produce", "DENY")
	f.Add([]byte(`{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{"allowed":"t","denied":""},"routes":{"crn:///kafka=*/topic=cli*":{"consume":{"allowed":"t"}}}}`),
		"crn:///kafka=k/topic=clicks", "consume", "ALLOW")
	f.Add([]byte(`{"destinations":{"topics":{}},"default_topics":{}}`), "crn://", "management", "ALLOW")
	f.Add([]byte(`{"routes":{"crn://a/b=*/c=d*":{"other":null}}}`), "crn://a/b=x/c=dd", "management", "DENY")
	f.Fuzz(func(t *testing.T, cfg []byte, subject, category, authz string) {
		c, err := ParseConfluent(cfg)
		if err != nil {
			return
		}
		r, err := New(Config{}, c, "audit")
		if err != nil {
			return
		}
		declared := map[string]bool{}
		for _, topic := range r.Topics() {
			declared[topic] = true
		}
		d := r.Decide(schemas.RouteInfo{Subject: subject, Category: category, Authz: authz, Method: "kafka.X", Principal: "User:p"})
		for _, tg := range d.Targets {
			if !declared[tg.Topic] {
				t.Fatalf("routed to undeclared topic %q; declared %v", tg.Topic, r.Topics())
			}
		}
	})
}
