package dedup

import (
	"time"

	"github.com/kaudit/kaudit/schemas"
)

// Access reporting limits. Reports are batched because one record per
// Produce/Fetch would double the pipeline's writes; they are prompt where
// operators care (a new topic on a connection, a denial) and at least once
// a minute of log time or every 1000 requests otherwise.
const (
	reportEvery      = time.Minute
	reportAfter      = 1000
	maxTopicsPerConn = 256
	// OverflowTopic collects a connection's access beyond maxTopicsPerConn
	// topics, so the table value stays bounded.
	OverflowTopic = "*"
)

// Track counts r's Produce/Fetch access in st, per topic, and returns the
// access deltas that are due, clearing what they report. resolve maps
// Fetch/Produce v13+ topic ids to names when the catalog knows them; it
// may be nil.
func Track(st *schemas.ConnState, r *schemas.RequestLog, resolve func(cluster, id string) (string, bool)) []schemas.AccessDelta {
	if !r.ProduceOrFetch() {
		return nil
	}
	newTopic := false
	// Produce and Fetch name topics by id from v13 on; only those need the
	// catalog, and a lookup decodes a table value.
	if r.APIVersion < 13 {
		resolve = nil
	}
	for i, name := range r.Topics {
		if resolve != nil {
			if n, ok := resolve(r.Cluster, name); ok {
				name = n
			}
		}
		ta := topicAccess(st, name)
		if ta.Total.Empty() {
			newTopic = true
		}
		a := requestAccess(r, i)
		ta.Total.Add(a)
		ta.Pending.Add(a)
	}
	due := newTopic || r.Denied() || pendingRequests(st) >= reportAfter || r.Time.Sub(st.LastReport) >= reportEvery
	if !due {
		return nil
	}
	return Flush(st, r.Time, r.API().Method, schemas.ErrorName(r.ErrorCode))
}

// requestAccess is what Produce or Fetch r did to its i-th topic.
func requestAccess(r *schemas.RequestLog, i int) schemas.Access {
	a := schemas.Access{First: r.Time, Last: r.Time}
	if r.APIKey == schemas.APIProduce {
		a.Produce = 1
	} else {
		a.Fetch = 1
	}
	if r.Denied() {
		a.Denied = 1
	} else if i < len(r.TopicBytes) {
		a.Bytes = r.TopicBytes[i] // a denied request moved no data
	}
	return a
}

// pendingRequests counts the requests a connection has not reported yet.
func pendingRequests(st *schemas.ConnState) int64 {
	var n int64
	for _, t := range st.Topics {
		n += t.Pending.Produce + t.Pending.Fetch
	}
	return n
}

// Flush reports all pending access of a connection and clears it. method
// and errorType describe the request that triggered the report when it
// was a denial.
func Flush(st *schemas.ConnState, now time.Time, method, errorType string) []schemas.AccessDelta {
	var out []schemas.AccessDelta
	for i := range st.Topics {
		t := &st.Topics[i]
		if t.Pending.Empty() {
			continue
		}
		d := schemas.AccessDelta{
			Cluster: st.Cluster, ResourceType: "TOPIC", Resource: t.Topic, Principal: st.Principal,
			Connection: st.Connection, ClientID: st.ClientID, Access: t.Pending,
		}
		if t.Pending.Denied > 0 {
			d.Method, d.ErrorType = method, errorType
		}
		out = append(out, d)
		t.Pending = schemas.Access{}
	}
	st.LastReport = now
	return out
}

// topicAccess finds or adds a connection's entry for a topic.
func topicAccess(st *schemas.ConnState, topic string) *schemas.TopicAccess {
	for i := range st.Topics {
		if st.Topics[i].Topic == topic {
			return &st.Topics[i]
		}
	}
	if len(st.Topics) >= maxTopicsPerConn {
		topic = OverflowTopic
		for i := range st.Topics {
			if st.Topics[i].Topic == topic {
				return &st.Topics[i]
			}
		}
	}
	st.Topics = append(st.Topics, schemas.TopicAccess{Topic: topic})
	return &st.Topics[len(st.Topics)-1]
}
