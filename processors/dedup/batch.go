package dedup

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/kaudit/kaudit/schemas"
)

// Batcher keeps repeat Produce/Fetch requests off the loop topic. Nearly
// every line is a connection's Nth Produce or Fetch, which changes only
// counters; sending each one to the connection's table partition would
// cost a Kafka round trip and a table write per line. When the local view
// of the dedup table already shows the connection's first request of that
// kind, the input side counts the request here instead and a flusher sends
// one batch record per connection every BatchMax requests or BatchAge.
//
// What can go wrong is bounded: first requests, denials and anything that
// might be a new connection still go to the table owner, so audit records
// and their ids do not depend on batching. Counters are exact after a
// graceful stop (batches are flushed); a crash loses at most Age of a
// connection's counts, as the raw offsets of batched lines are committed.
type Batcher struct {
	// Known returns the view's state of a connection, nil when unknown.
	Known func(key string) *schemas.ConnState
	Rules Rules
	// Age is how long a batch collects before it is sent; 0 means
	// BatchAge. Busy connections fill a batch in far less; the age is for
	// the many that send a request every few seconds.
	Age time.Duration
	// MaxPending bounds the connections with an open batch (memory); 0
	// means DefaultMaxPending. Beyond it, repeats go to the table one by one.
	MaxPending int

	mu      sync.Mutex
	pending map[string]*batch
	// opened lists batches in the order they were opened, which is the
	// order they fall due: Due pops what is due instead of scanning every
	// open batch under the lock that absorb needs. Entries of batches sent
	// early (full) are skipped when they come up.
	opened []openedBatch
}

type openedBatch struct {
	key string
	b   *batch
}

type batch struct {
	rec   *schemas.RequestLog
	count int
	since time.Time // wall clock: batching bounds delay, not log time
}

// Batching bounds.
const (
	BatchMax          = 1000
	BatchAge          = 30 * time.Second
	DefaultMaxPending = 100_000
)

// absorb counts r into its connection's batch when the table already
// holds what r would change beyond counters. It returns the batch to send
// right away when one is full, nil otherwise, and whether r was absorbed.
func (b *Batcher) absorb(r *schemas.RequestLog, key string) (*schemas.RequestLog, bool) {
	if b == nil || b.Known == nil || len(r.Topics) == 0 || r.Denied() {
		return nil, false
	}
	if r.APIKey != schemas.APIProduce && r.APIKey != schemas.APIFetch {
		return nil, false
	}
	st := b.Known(key)
	if st == nil || replaysFirst(st, r) || b.Rules.newIncarnation(st, r) || r.Time.Before(st.Epoch) {
		return nil, false
	}
	if (r.APIKey == schemas.APIProduce && st.FirstProduce == nil) || (r.APIKey == schemas.APIFetch && st.FirstFetch == nil) {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string]*batch{}
	}
	bt := b.pending[key]
	if bt == nil {
		if len(b.pending) >= cmp.Or(b.MaxPending, DefaultMaxPending) {
			return nil, false
		}
		bt = &batch{since: time.Now(), rec: &schemas.RequestLog{
			Cluster: r.Cluster, Connection: r.Connection, APIKey: -2, APIName: schemas.BatchAPI,
		}}
		b.pending[key] = bt
		b.opened = append(b.opened, openedBatch{key, bt})
	}
	addToBatch(bt.rec, r)
	bt.count++
	if bt.count < BatchMax {
		return nil, true
	}
	delete(b.pending, key)
	return bt.rec, true
}

// addToBatch folds one repeat request into a batch record.
func addToBatch(b, r *schemas.RequestLog) {
	setIfAny(&b.Principal, r.Principal)
	setIfAny(&b.ClientID, r.ClientID)
	setIfAny(&b.Listener, r.Listener)
	setIfAny(&b.SecurityProtocol, r.SecurityProtocol)
	if r.Time.After(b.Time) {
		b.Time = r.Time
	}
	b.CorrelationID = max(b.CorrelationID, r.CorrelationID)
	b.RecordBytes += r.RecordBytes
	if r.APIKey == schemas.APIProduce {
		b.BatchProduce++
	} else {
		b.BatchFetch++
	}
	for i, t := range r.Topics {
		a := schemas.Access{First: r.Time, Last: r.Time}
		if r.APIKey == schemas.APIProduce {
			a.Produce = 1
		} else {
			a.Fetch = 1
		}
		if i < len(r.TopicBytes) {
			a.Bytes = r.TopicBytes[i]
		}
		found := false
		for j := range b.Batch {
			if b.Batch[j].Topic == t {
				b.Batch[j].Access.Add(a)
				found = true
				break
			}
		}
		if !found {
			b.Batch = append(b.Batch, schemas.BatchAccess{Topic: t, Access: a})
		}
	}
}

// Due returns the batches older than the batch age, or all with all=true, and
// forgets them. The caller sends each to the loop topic under its key.
func (b *Batcher) Due(all bool) map[string]*schemas.RequestLog {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]*schemas.RequestLog{}
	age := cmp.Or(b.Age, BatchAge)
	n := 0
	for ; n < len(b.opened); n++ {
		o := b.opened[n]
		if !all && time.Since(o.b.since) < age {
			break
		}
		if b.pending[o.key] == o.b {
			out[o.key] = o.b.rec
			delete(b.pending, o.key)
		}
	}
	b.opened = slices.Delete(b.opened, 0, n) // keeps the array: opening goes on
	return out
}

// applyBatch folds a batch record into the connection's state: the
// counters the absorbed requests would have changed one by one.
func applyBatch(st *schemas.ConnState, r *schemas.RequestLog) *schemas.ConnState {
	if st == nil {
		// Evicted since the batch began: start over, without a first record.
		st = &schemas.ConnState{Cluster: r.Cluster, Connection: r.Connection, FirstSeen: r.Time, Epoch: r.Time}
	}
	identify(st, r)
	if r.Time.After(st.LastSeen) {
		st.LastSeen = r.Time
	}
	st.MaxCorrelationID = max(st.MaxCorrelationID, r.CorrelationID)
	st.Requests += r.BatchProduce + r.BatchFetch
	st.SuppressedProduce += r.BatchProduce
	st.SuppressedFetch += r.BatchFetch
	st.SuppressedBytes += max(r.RecordBytes, 0)
	for _, b := range r.Batch {
		ta := topicAccess(st, b.Topic)
		ta.Total.Add(b.Access)
		ta.Pending.Add(b.Access)
	}
	return st
}
