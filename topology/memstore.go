package topology

import (
	"slices"
	"strings"
	"sync"

	"github.com/lovoo/goka/storage"
)

// memoryBuilder opens the stores used without a state dir: a map each.
//
// goka's storage.MemoryBuilder keeps a sorted list of its keys beside the
// map, sorts it again on every new key and scans it on every delete, so
// each new or evicted connection cost time in proportion to the
// connections a partition held (BenchmarkMemoryStoreNewKeys). These stores
// sort keys only when an iterator is opened: the sweeper's pass and the
// small tables' lists.
func memoryBuilder() storage.Builder {
	return func(string, int32) (storage.Storage, error) {
		return &memStorage{m: map[string][]byte{}}, nil
	}
}

type memStorage struct {
	mu        sync.RWMutex
	m         map[string][]byte
	offset    int64
	hasOffset bool
}

func (s *memStorage) Open() error          { return nil }
func (s *memStorage) Close() error         { return nil }
func (s *memStorage) MarkRecovered() error { return nil }

func (s *memStorage) Has(key string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[key]
	return ok, nil
}

func (s *memStorage) Get(key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[key], nil
}

// Set keeps a copy: codecs reuse their buffers, and goka hands a view's and
// a recovering table's values over as slices of the fetched batch, which
// would keep the whole batch alive (13% of a view's heap, README).
func (s *memStorage) Set(key string, value []byte) error {
	v := append(make([]byte, 0, len(value)), value...) // non-nil when empty
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = v
	return nil
}

func (s *memStorage) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memStorage) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.hasOffset {
		return def, nil
	}
	return s.offset, nil
}

func (s *memStorage) SetOffset(offset int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset, s.hasOffset = offset, true
	return nil
}

func (s *memStorage) Iterator() (storage.Iterator, error) { return s.IteratorWithRange(nil, nil) }

// IteratorWithRange iterates over a sorted snapshot of the keys from start
// up to limit, or with prefix start if limit is empty: LevelDB's ranges,
// as the state-dir stores read them. Values are not copied; Set never
// changes a stored slice.
func (s *memStorage) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	lo, hi := string(start), string(limit) // once, not per key
	in := func(k string) bool { return strings.HasPrefix(k, lo) }
	if hi != "" {
		in = func(k string) bool { return k >= lo && k < hi }
	}
	s.mu.RLock()
	it := &memIterator{i: -1}
	for k, v := range s.m {
		if in(k) {
			it.entries = append(it.entries, memEntry{k, v})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(it.entries, func(a, b memEntry) int { return strings.Compare(a.key, b.key) })
	return it, nil
}

type memEntry struct {
	key   string
	value []byte
}

type memIterator struct {
	entries []memEntry
	i       int
}

func (it *memIterator) Next() bool {
	if it.i < len(it.entries) {
		it.i++
	}
	return it.i < len(it.entries)
}

func (it *memIterator) valid() bool { return it.i >= 0 && it.i < len(it.entries) }

func (it *memIterator) Key() []byte {
	if !it.valid() {
		return nil
	}
	return []byte(it.entries[it.i].key)
}

func (it *memIterator) Value() ([]byte, error) {
	if !it.valid() {
		return nil, nil
	}
	return it.entries[it.i].value, nil
}

func (it *memIterator) Err() error { return nil }
func (it *memIterator) Release()   { it.entries, it.i = nil, 0 }

// Seek moves to the first key at or after key, as LevelDB's does.
func (it *memIterator) Seek(key []byte) bool {
	it.i, _ = slices.BinarySearchFunc(it.entries, string(key), func(e memEntry, k string) int {
		return strings.Compare(e.key, k)
	})
	return it.valid()
}
