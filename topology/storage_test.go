package topology

import (
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

func openBatched(t *testing.T, dir string) storage.Storage {
	t.Helper()
	st, err := batchedBuilder(dir, slog.Default())("table", 0)
	require.NoError(t, err)
	require.NoError(t, st.Open())
	return st
}

func contents(t *testing.T, st storage.Storage) map[string]string {
	t.Helper()
	it, err := st.Iterator()
	require.NoError(t, err)
	defer it.Release()
	got := map[string]string{}
	for it.Next() {
		v, err := it.Value()
		require.NoError(t, err)
		got[string(it.Key())] = string(v)
	}
	require.NoError(t, it.Err())
	return got
}

// checkUpdates makes updates every store must read back as goka's do:
// values copied, an empty value kept, deletes gone, iterators without the
// offset key. It leaves a=v1, b=v2 and the offset.
func checkUpdates(t *testing.T, st storage.Storage, offset int64) {
	t.Helper()
	buf := []byte("v1")
	require.NoError(t, st.Set("a", buf))
	buf[1] = 'X' // a codec reusing its buffer must not change the stored value
	require.NoError(t, st.Set("b", []byte("v2")))
	require.NoError(t, st.Set("c", []byte("v3")))
	require.NoError(t, st.Delete("c"))
	require.NoError(t, st.Delete("never"))
	require.NoError(t, st.SetOffset(offset))
	require.NoError(t, st.Set("empty", []byte{}))
	has, err := st.Has("empty")
	require.NoError(t, err)
	require.True(t, has, "an empty value is not a delete")
	require.NoError(t, st.Delete("empty"))

	for key, want := range map[string]string{"a": "v1", "b": "v2", "c": ""} {
		v, err := st.Get(key)
		require.NoError(t, err)
		require.Equal(t, want, string(v), key)
		has, err := st.Has(key)
		require.NoError(t, err)
		require.Equal(t, want != "", has, key)
	}
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.Equal(t, offset, off)
	require.Equal(t, map[string]string{"a": "v1", "b": "v2"}, contents(t, st))
}

// The batched store must read like goka's: pending updates are visible at
// once, iterators see them and never the offset key, and a reopened store
// has what was written before Close, offset included.
func TestBatchedStorage(t *testing.T) {
	dir := t.TempDir()
	st := openBatched(t, dir)
	checkUpdates(t, st, 41)

	// Updates after an iterator flushed the batch are batched again.
	require.NoError(t, st.MarkRecovered())
	require.NoError(t, st.Set("b", []byte("v2'")))
	require.NoError(t, st.Delete("a"))
	require.NoError(t, st.SetOffset(42))
	require.NoError(t, st.Close())

	st = openBatched(t, dir)
	defer func() { require.NoError(t, st.Close()) }()
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.EqualValues(t, 42, off)
	require.Equal(t, map[string]string{"b": "v2'"}, contents(t, st))
	v, err := st.Get("a")
	require.NoError(t, err)
	require.Nil(t, v)
}

// A new store has no offset, and a full batch is written without waiting
// for the timer.
func TestBatchedStorageDefaultsAndFullBatch(t *testing.T) {
	st := openBatched(t, t.TempDir())
	defer func() { require.NoError(t, st.Close()) }()
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.EqualValues(t, -2, off)

	bs := st.(*batchedStorage)
	for i := range flushEntries {
		require.NoError(t, st.Set(string(rune('a'+i%26))+string(rune(i)), []byte{1}))
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	require.Empty(t, bs.pending, "a full batch is written at once")
}

// A store's flusher wakes only when there is something to write, and
// writes it within flushInterval without another call; Close stops it
// (goleak in TestMain checks that nothing is left running).
func TestBatchedStorageTimedFlush(t *testing.T) {
	dir := t.TempDir()
	st := openBatched(t, dir)
	bs := st.(*batchedStorage)
	armed := func() bool {
		bs.mu.Lock()
		defer bs.mu.Unlock()
		return bs.armed
	}
	require.False(t, armed(), "an idle store's flusher is not woken")

	require.NoError(t, st.Set("a", []byte("v")))
	require.True(t, armed())
	require.Eventually(t, func() bool {
		bs.mu.Lock()
		defer bs.mu.Unlock()
		return len(bs.pending) == 0 && !bs.armed
	}, 10*flushInterval, flushInterval/5, "written by the timer")
	v, err := bs.stored([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))

	require.NoError(t, st.SetOffset(7))
	require.True(t, armed(), "a new offset is written too")
	require.NoError(t, st.Close())
	st = openBatched(t, dir)
	defer func() { require.NoError(t, st.Close()) }()
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.EqualValues(t, 7, off, "Close writes what is pending")
}

// A filter never loses a key, grows by segments, and passes few keys it
// was not given.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilter()
	const n = 100_000
	for i := range n {
		f.add(fmt.Appendf(nil, "conn-%d", i))
	}
	require.Len(t, f.segs, 3, "16k + 32k + 64k keys")
	require.InDelta(t, n, f.keys, n/50, "false positives are not counted")
	passed := 0
	for i := range n {
		require.True(t, f.mayHold(fmt.Appendf(nil, "conn-%d", i)))
		if f.mayHold(fmt.Appendf(nil, "other-%d", i)) {
			passed++
		}
	}
	require.Less(t, passed, n*3/100, "false positives")
}

// waitFilter waits until st has a built filter and no build running.
func waitFilter(t *testing.T, st storage.Storage) *keyFilter {
	t.Helper()
	s := st.(*batchedStorage)
	var f *keyFilter
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		f = s.filter
		return f != nil && s.building == nil
	}, 10*time.Second, 5*time.Millisecond)
	return f
}

// storeFilter returns st's filter now (nil: not built).
func storeFilter(st storage.Storage) *keyFilter {
	s := st.(*batchedStorage)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filter
}

// A closed store leaves its filter for the next open. A store whose file
// is gone (a crash) or was saved at another offset builds its filter from
// its contents once recovered, while it is updated, and builds it again
// once most of its keys were deleted. Get answers right all along.
func TestBatchedStorageFilter(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "table.0", filterFile)
	st := openBatched(t, dir)
	require.NotNil(t, storeFilter(st), "an empty store has a filter at once")
	key := func(i int) string { return fmt.Sprintf("conn-%06d", i) }
	const n = 3 * filterFirstKeys
	for i := range n {
		require.NoError(t, st.Set(key(i), []byte{1}))
	}
	require.NoError(t, st.SetOffset(7))
	require.NoError(t, st.Close())
	saved, err := os.ReadFile(file)
	require.NoError(t, err)

	st = openBatched(t, dir)
	f := storeFilter(st)
	require.NotNil(t, f, "loaded")
	require.NoFileExists(t, file, "the store changes from here on")
	for i := range n {
		require.True(t, f.mayHold([]byte(key(i))), key(i))
	}
	require.NoError(t, st.Set(key(n), []byte{2}))
	require.NoError(t, st.SetOffset(8))
	require.NoError(t, st.Close())
	require.NoError(t, os.WriteFile(file, saved, 0o600)) // the filter of offset 7

	st = openBatched(t, dir)
	defer func() { require.NoError(t, st.Close()) }()
	require.Nil(t, storeFilter(st), "a filter saved at another offset is not loaded")
	require.NoFileExists(t, file)
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.EqualValues(t, 8, off, "the offset is not a key of the filter")
	// Updates before and while the filter is built: Get must see them,
	// and so must the filter once built.
	for i := n + 1; i < n+1000; i++ {
		require.NoError(t, st.Set(key(i), []byte{2}))
		if i == n+500 {
			require.NoError(t, st.MarkRecovered())
		}
	}
	for _, i := range []int{0, n - 1, n, n + 999} {
		v, err := st.Get(key(i))
		require.NoError(t, err)
		require.NotNil(t, v, key(i))
	}
	f = waitFilter(t, st)
	for i := range n + 1000 {
		require.True(t, f.mayHold([]byte(key(i))), key(i))
	}

	// Delete all but the last 1000: the filter is built again, without them.
	for i := range n {
		require.NoError(t, st.Delete(key(i)))
	}
	// The deletes started the build under mu; waitFilter waits for its end.
	rebuilt := waitFilter(t, st)
	require.NotSame(t, f, rebuilt, "deletes rebuild the filter")
	f = rebuilt
	require.Less(t, f.keys, 1000+n-filterFirstKeys, "deleted keys before the rebuild are gone from it")
	for i := n; i < n+1000; i++ {
		require.True(t, f.mayHold([]byte(key(i))), key(i))
		v, err := st.Get(key(i))
		require.NoError(t, err)
		require.Equal(t, []byte{2}, v)
	}
	v, err := st.Get(key(0))
	require.NoError(t, err)
	require.Nil(t, v)
}

// A saved filter is loaded only by a build that hashes keys the same way.
func TestLoadFilterChecksHashing(t *testing.T) {
	dir := t.TempDir()
	f := newKeyFilter()
	f.add([]byte("conn-1"))
	off := []byte("7")
	require.NoError(t, saveFilter(dir, off, f))
	got := loadFilter(dir, off)
	require.NotNil(t, got)
	require.True(t, got.mayHold([]byte("conn-1")))
	require.NoFileExists(t, filepath.Join(dir, filterFile))

	// A file whose probe differs, as one written with other hashing would.
	data, err := os.Create(filepath.Join(dir, filterFile))
	require.NoError(t, err)
	require.NoError(t, gob.NewEncoder(data).Encode(savedFilter{off, []uint64{1, 2, 3}, f.room, f.keys, f.segs}))
	require.NoError(t, data.Close())
	require.Nil(t, loadFilter(dir, off))
	require.NoFileExists(t, filepath.Join(dir, filterFile))
}

// fillRandom writes n keys in random order, with values of ~150 B, as the
// owners' stores get them, in batches of flushEntries.
func fillRandom(db *leveldb.DB, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	val := make([]byte, 150)
	var b leveldb.Batch
	for i := range n {
		k := rng.Uint64()
		binary.LittleEndian.PutUint64(val, k)
		b.Put(fmt.Appendf(nil, "lkc-1|10.0.%d.%d:9094-10.0.1.23:%d-%d", k%256, k>>8%256, k>>16%65536, i), val)
		if b.Len() == flushEntries {
			if err := db.Write(&b, nil); err != nil {
				return err
			}
			b.Reset()
		}
	}
	return db.Write(&b, nil)
}

// Table files written through bufferedTables read back whole: after the
// memtables' flushes, a full compaction and a reopen.
func TestBufferedTables(t *testing.T) {
	dir := t.TempDir()
	db, files, err := openLevelDB(dir)
	require.NoError(t, err)
	const n = 30_000 // ~6 MiB: several memtable flushes
	require.NoError(t, fillRandom(db, n, 1))
	require.NoError(t, db.CompactRange(util.Range{}))
	require.NoError(t, db.Close())
	require.NoError(t, files.Close())
	tables, err := filepath.Glob(filepath.Join(dir, "*.ldb"))
	require.NoError(t, err)
	require.NotEmpty(t, tables)

	db, files, err = openLevelDB(dir)
	require.NoError(t, err)
	defer func() {
		require.NoError(t, db.Close())
		require.NoError(t, files.Close())
	}()
	it := db.NewIterator(nil, nil)
	defer it.Release()
	got := 0
	for it.Next() {
		require.Len(t, it.Value(), 150)
		got++
	}
	require.NoError(t, it.Error())
	require.Equal(t, n, got)
}

// BenchmarkTableFiles compacts a store of random keys, as the owners' are
// compacted, with goleveldb's file storage and with bufferedTables.
// cpu-ms/op is the process's CPU, compaction goroutines included.
func BenchmarkTableFiles(b *testing.B) {
	for _, tc := range []struct {
		name string
		open func(dir string) (*leveldb.DB, io.Closer, error)
	}{
		{"goleveldb", func(dir string) (*leveldb.DB, io.Closer, error) {
			o := ldbOptions
			db, err := leveldb.OpenFile(dir, &o)
			return db, io.NopCloser(nil), err
		}},
		{"buffered", openLevelDB},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var cpu time.Duration
			for i := range b.N {
				b.StopTimer()
				db, files, err := tc.open(b.TempDir())
				require.NoError(b, err)
				require.NoError(b, fillRandom(db, 50_000, uint64(i)))
				before := processCPU(b)
				b.StartTimer()
				require.NoError(b, db.CompactRange(util.Range{}))
				b.StopTimer()
				cpu += processCPU(b) - before
				require.NoError(b, db.Close())
				require.NoError(b, files.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
