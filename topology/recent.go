package topology

import (
	"sort"
	"sync"
	"time"
)

// recent counts records per destination per minute over the last hour,
// for the web page's "recent records" view. Counters are per instance.
type recent struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[int64]map[string]int64 // unix minute -> topic -> count
}

const recentMinutes = 60

func newRecent() *recent {
	return &recent{now: time.Now, buckets: map[int64]map[string]int64{}}
}

func (r *recent) add(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.now().Unix() / 60
	b := r.buckets[m]
	if b == nil {
		b = map[string]int64{}
		r.buckets[m] = b
		for k := range r.buckets {
			if k <= m-recentMinutes {
				delete(r.buckets, k)
			}
		}
	}
	b[topic]++
}

// RecentMinute is one minute of record counts per destination.
type RecentMinute struct {
	Minute time.Time        `json:"minute"`
	Counts map[string]int64 `json:"counts"`
}

// snapshot returns the minutes with records, oldest first.
func (r *recent) snapshot() []RecentMinute {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := r.now().Unix()/60 - recentMinutes
	out := []RecentMinute{}
	for m, b := range r.buckets {
		if m <= cutoff {
			continue
		}
		counts := make(map[string]int64, len(b))
		for t, n := range b {
			counts[t] = n
		}
		out = append(out, RecentMinute{Minute: time.Unix(m*60, 0).UTC(), Counts: counts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minute.Before(out[j].Minute) })
	return out
}
