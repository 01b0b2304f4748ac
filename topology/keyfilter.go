package topology

import "github.com/bits-and-blooms/bloom/v3"

// keyFilter is a scalable Bloom filter of the keys a store holds: a
// segment per doubling of the keys, so it grows without reading the store
// again. It never forgets a key, so a store rebuilds it from its contents
// once many of the keys it was given are deleted (see batchedStorage).
type keyFilter struct {
	segs []*bloom.BloomFilter
	room uint // keys the newest segment takes before the next one is added
	keys int  // keys added, each once (less the rare false positives)
}

const (
	filterFirstKeys = 1 << 14
	// filterFP is each segment's false-positive rate. A false positive
	// costs only the LevelDB read the filter is there to save.
	filterFP = 0.01
)

func newKeyFilter() *keyFilter { return &keyFilter{} }

// mayHold reports false when the key was never added.
func (f *keyFilter) mayHold(k []byte) bool {
	for _, s := range f.segs {
		if s.Test(k) {
			return true
		}
	}
	return false
}

func (f *keyFilter) add(k []byte) {
	if f.mayHold(k) {
		return
	}
	if f.room == 0 {
		n := uint(filterFirstKeys) << len(f.segs)
		f.segs = append(f.segs, bloom.NewWithEstimates(n, filterFP))
		f.room = n
	}
	f.segs[len(f.segs)-1].Add(k)
	f.room--
	f.keys++
}
