// Package access coalesces access deltas into partial topic and principal
// summaries, which the topics and principals groups merge into their
// tables.
package access

import (
	"sync"

	"github.com/kaudit/kaudit/processors/principals"
	"github.com/kaudit/kaudit/processors/topics"
	"github.com/kaudit/kaudit/schemas"
)

// Buffer folds deltas into one partial summary per topic and one per
// principal until they are taken, as Kafka Streams' record cache
// coalesces a table's updates until a commit. Each message on the access
// streams rewrites a whole summary (a table write, a changelog record and
// a view update, tens of KB for a busy principal); one message per
// connection and resource made those writes the pipeline's largest cost.
// Coalesced, a flush writes each summary once.
//
// The summaries are counters: a crash loses what is buffered (at most one
// flush interval), the bound the dedup Batcher has too. Audit records
// never depend on them.
type Buffer struct {
	mu         sync.Mutex
	topics     map[string]*schemas.TopicSummary
	principals map[string]*schemas.PrincipalSummary
}

// Add folds d in.
func (b *Buffer) Add(d *schemas.AccessDelta) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topics == nil {
		b.topics, b.principals = map[string]*schemas.TopicSummary{}, map[string]*schemas.PrincipalSummary{}
	}
	if d.ResourceType == "TOPIC" {
		k := schemas.TopicSummaryKey(d.Cluster, d.Resource)
		b.topics[k] = topics.Fold(b.topics[k], d)
	}
	b.principals[d.Principal] = principals.Fold(b.principals[d.Principal], d)
}

// Take returns the partial summaries, keyed as their tables are, and
// empties the buffer.
func (b *Buffer) Take() (map[string]*schemas.TopicSummary, map[string]*schemas.PrincipalSummary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, p := b.topics, b.principals
	b.topics, b.principals = nil, nil
	return t, p
}
