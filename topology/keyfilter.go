package topology

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"os"
	"path/filepath"
	"slices"

	"github.com/bits-and-blooms/bloom/v3"
)

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
	// filterK is the hashes per key, the same in each segment, so that a
	// key's locations are hashed once for all of them.
	filterK = 7
)

func newKeyFilter() *keyFilter { return &keyFilter{} }

// mayHold reports false when the key was never added.
func (f *keyFilter) mayHold(k []byte) bool { return f.holds(bloom.Locations(k, filterK)) }

// holds looks in the newest segment first: it is the largest.
func (f *keyFilter) holds(locs []uint64) bool {
	for i := len(f.segs) - 1; i >= 0; i-- {
		if f.segs[i].TestLocations(locs) {
			return true
		}
	}
	return false
}

func (f *keyFilter) add(k []byte) {
	locs := bloom.Locations(k, filterK)
	if f.holds(locs) {
		return
	}
	if f.room == 0 {
		n := uint(filterFirstKeys) << len(f.segs)
		m, _ := bloom.EstimateParameters(n, filterFP)
		f.segs = append(f.segs, bloom.New(m, filterK))
		f.room = n
	}
	s := f.segs[len(f.segs)-1]
	for _, l := range locs {
		s.BitSet().Set(uint(l % uint64(s.Cap())))
	}
	f.room--
	f.keys++
}

// filterFile is where a closed store keeps its filter, in its LevelDB
// directory (goleveldb ignores files it did not name).
const filterFile = "KAUDIT-KEYFILTER"

// savedFilter is a filter as saved at Close, with the offset the store had
// then. Probe is where a fixed key's bits were: a build whose hashing
// differs (another filterK, another bloom version) must not load the file,
// or stored keys would look absent.
type savedFilter struct {
	Offset []byte
	Probe  []uint64
	Room   uint
	Keys   int
	Segs   []*bloom.BloomFilter
}

func filterProbe() []uint64 { return bloom.Locations([]byte(filterFile), filterK) }

// saveFilter writes f, the filter of a store closed at offset, to dir.
func saveFilter(dir string, offset []byte, f *keyFilter) error {
	tmp, err := os.CreateTemp(dir, filterFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriter(tmp)
	err = gob.NewEncoder(w).Encode(savedFilter{offset, filterProbe(), f.room, f.keys, f.segs})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, filterFile))
}

// loadFilter returns the filter saved in dir when the store is where it
// was when the filter was saved (at offset), and nil if not. It removes
// the file either way: from here on the store changes, and the file would
// lack what is added. A file it cannot remove is not used.
func loadFilter(dir string, offset []byte) *keyFilter {
	p := filepath.Join(dir, filterFile)
	data, err := os.ReadFile(p)
	if err != nil || os.Remove(p) != nil {
		return nil
	}
	var sf savedFilter
	if gob.NewDecoder(bytes.NewReader(data)).Decode(&sf) != nil || offset == nil || !bytes.Equal(sf.Offset, offset) ||
		!slices.Equal(sf.Probe, filterProbe()) {
		return nil
	}
	return &keyFilter{segs: sf.Segs, room: sf.Room, keys: sf.Keys}
}
