package topology

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/schemas"
)

// sweeper evicts idle connections from the dedup table. goka has no
// timers and a table is written only by its group's callbacks, so the
// sweeper scans this instance's partitions of the table (through the
// query view) and sends an expire marker for each idle connection to the
// rekeyed stream; the callback then deletes the entry if it is still
// idle. Idleness is judged in stream time (the latest log time processed
// here), not wall time, so replays and backfills evict alike.
type sweeper struct {
	rules      dedup.Rules
	partitions int
	streamTime atomic.Int64 // unix ms

	mu    sync.Mutex
	owned map[int32]bool
}

func (s *sweeper) seen(t time.Time) {
	ms := t.UnixMilli()
	for {
		cur := s.streamTime.Load()
		if ms <= cur || s.streamTime.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// assigned records the dedup group's partitions on this instance.
func (s *sweeper) assigned(a goka.Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owned = map[int32]bool{}
	for p := range a {
		s.owned[p] = true
	}
}

func (s *sweeper) owns(key string) bool {
	h := goka.DefaultHasher()()
	if _, err := h.Write([]byte(key)); err != nil {
		return false
	}
	// goka's partitioner: the hash's absolute value modulo the count.
	p := int32(h.Sum32())
	if p < 0 {
		p = -p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned[p%int32(s.partitions)]
}

// interval is how often to sweep: a quarter of the TTL, within bounds.
func (s *sweeper) interval() time.Duration {
	return min(max(s.rules.TTL/4, 10*time.Second), 5*time.Minute)
}

// now is the stream time: the latest log time processed here.
func (s *sweeper) now() time.Time { return time.UnixMilli(s.streamTime.Load()).UTC() }

// sweepOnce sends an expire marker for every idle connection this instance
// owns and returns how many it sent.
func (s *sweeper) sweepOnce(view *goka.View, now time.Time, emit func(key string, marker *schemas.RequestLog) error) (int, error) {
	it, err := view.Iterator()
	if err != nil {
		return 0, err
	}
	defer it.Release()
	n := 0
	for it.Next() {
		key := it.Key()
		if !s.owns(key) {
			continue
		}
		v, err := it.Value()
		if err != nil {
			return n, err
		}
		st, ok := v.(*schemas.ConnState)
		if !ok || !s.rules.Expired(st, now) {
			continue
		}
		if err := emit(key, dedup.ExpireMarker(st.Cluster, st.Connection, now)); err != nil {
			return n, err
		}
		n++
	}
	return n, it.Err()
}
