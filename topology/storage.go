package topology

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	ldbiter "github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	ldbstorage "github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// offsetKey is where goka's LevelDB storage keeps a partition's offset;
// using the same key keeps state dirs readable by either storage.
const offsetKey = "__offset"

// Write-back bounds: pending updates are written when this many keys have
// one, and on a timer this often.
const (
	flushEntries  = 4096
	flushInterval = 50 * time.Millisecond
)

// ldbOptions keep each store small. kaudit opens one store per partition
// of every table and view (74 with the default topics), and goleveldb's
// defaults (4 MiB write buffer, 8 MiB block cache each) made that fixed
// cost most of an instance's RSS.
var ldbOptions = opt.Options{
	WriteBuffer:        1 * opt.MiB,
	BlockCacheCapacity: 1 * opt.MiB,
	// Keys (connections) are random, so every level-0 table overlaps all
	// of level 1 and each L0->L1 compaction rewrites the whole level:
	// compacting every 8 small tables cost a table rebuild (recovery) half
	// its CPU, quadratic in the table's size. Letting up to 64 gather
	// (~27 MiB on disk; one partition of a 1M-connection table is 14 MiB)
	// made the rebuild of 1M connections go from 11 to 6.8 s; the bloom
	// filter below keeps lookups across that many tables cheap. A store
	// may hold ~70 files open, so kaudit needs a few thousand descriptors.
	CompactionL0Trigger:    64,
	WriteL0SlowdownTrigger: 96,
	WriteL0PauseTrigger:    128,
	// A batch larger than the write buffer would otherwise become a
	// level-0 table of its own, skipping the memtable.
	DisableLargeBatchTransaction: true,
	// A lookup that the store's keyFilter lets through looks at each of
	// the many level-0 tables: a bloom filter (10 bits, ~1.2 B a key)
	// saves reading a block of each table that lacks the key.
	Filter: filter.NewBloomFilter(10),
}

// batchedBuilder opens LevelDB stores whose writes are batched.
//
// goka's LevelDB storage writes each Set, and each offset after it, on its
// own: two journal writes (syscalls) per table update, the largest single
// cost in the dedup group's profile. Here updates collect in a batch that
// is written with the latest offset every flushEntries keys or
// flushInterval. A batch is atomic, so after a crash a store holds a
// prefix of its changelog and the offset where that prefix ends; goka
// recovers the rest from the changelog, as it does for any store that is
// behind.
func batchedBuilder(path string, log *slog.Logger) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		fp := filepath.Join(path, fmt.Sprintf("%s.%d", topic, partition))
		db, files, err := openLevelDB(fp)
		if err != nil {
			return nil, fmt.Errorf("opening leveldb %s: %w", fp, err)
		}
		return newBatchedStorage(db, files, fp, log), nil
	}
}

// openLevelDB opens the store in dir with ldbOptions and table files
// written through a buffer. The caller closes the files after the DB.
func openLevelDB(dir string) (*leveldb.DB, io.Closer, error) {
	files, err := ldbstorage.OpenFile(dir, false)
	if err != nil {
		return nil, nil, err
	}
	o := ldbOptions
	db, err := leveldb.Open(bufferedTables{files}, &o)
	if err != nil {
		files.Close()
		return nil, nil, err
	}
	return db, files, nil
}

// tableWriteBuffer is the buffer bufferedTables writes a table file
// through.
const tableWriteBuffer = 64 << 10

// bufferedTables has LevelDB write table files through a buffer.
// goleveldb writes a table one block (~4 KiB) at a time, a write syscall
// each, and compaction rewrites a store's tables whole, as keys are
// random. The journal and the manifest are written as before: goleveldb
// writes those when a write must reach the file.
type bufferedTables struct{ ldbstorage.Storage }

func (s bufferedTables) Create(fd ldbstorage.FileDesc) (ldbstorage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil || fd.Type != ldbstorage.TypeTable {
		return w, err
	}
	return &bufferedWriter{Writer: bufio.NewWriterSize(w, tableWriteBuffer), file: w}, nil
}

// bufferedWriter is a table file being written. goleveldb syncs a table
// before the store uses it (opt.Options.NoSync is false), so Sync writes
// what is buffered first; Close does too, for a table that is dropped.
type bufferedWriter struct {
	*bufio.Writer
	file ldbstorage.Writer
}

func (w *bufferedWriter) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	return w.file.Sync()
}

func (w *bufferedWriter) Close() error {
	err := w.Flush()
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	return err
}

type batchedStorage struct {
	db     *leveldb.DB
	files  io.Closer // the DB's file storage, closed after it
	dir    string
	log    *slog.Logger
	offset atomic.Int64

	mu      sync.Mutex
	pending map[string][]byte // unwritten values; nil marks a delete
	err     error             // a failed background write, returned by the next call
	dirty   bool              // the offset changed since the last write

	// filter holds every key the store holds, so that Get answers a
	// lookup of a key it never held without a LevelDB read. Most lookups
	// are of such keys (every new connection's first request asks the
	// table, and the batcher asks the view), and in goleveldb they read
	// the bloom filters of each of up to 64 level-0 tables through a 1 MiB
	// block cache, and charge seeks that soon compact the store. nil
	// while a reopened store has neither loaded one (saveFilter) nor built
	// one from its contents: Get reads LevelDB until then.
	filter *keyFilter
	// building is the next filter while build reads the store; updates
	// go into it too.
	building *keyFilter
	deletes  int // since filter was built

	// armed: the flusher has been woken (kick) and writes what is pending
	// flushInterval later. An idle store's flusher sleeps: a ticker per
	// store (74 by default) woke an idle instance ~1,500 times a second,
	// 0.04–0.05 cores; 0.01 without (BENCHMARKS.md, twenty-second session).
	armed bool
	kick  chan struct{}

	stop chan struct{}
	bg   sync.WaitGroup // the flusher and a build
}

// newBatchedStorage starts the flusher here rather than in Open, so that
// Close never waits for a goroutine that was not started.
func newBatchedStorage(db *leveldb.DB, files io.Closer, dir string, log *slog.Logger) *batchedStorage {
	s := &batchedStorage{
		db: db, files: files, dir: dir, log: log, pending: map[string][]byte{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	off, err := s.stored([]byte(offsetKey))
	saved := loadFilter(dir, off) // removed from disk either way
	it := db.NewIterator(nil, nil)
	if !it.First() {
		s.filter = newKeyFilter()
	} else if err == nil {
		s.filter = saved // if nil, MarkRecovered builds it
	}
	it.Release()
	s.bg.Add(1)
	go s.flusher()
	return s
}

// armLocked has what is pending written within flushInterval.
func (s *batchedStorage) armLocked() {
	if !s.armed {
		s.armed = true
		s.kick <- struct{}{} // never blocks: one kick per disarm
	}
}

// flusher writes what is pending flushInterval after each kick: under
// load every flushInterval, as the ticker it replaced, and never while the
// store is idle.
func (s *batchedStorage) flusher() {
	defer s.bg.Done()
	t := time.NewTimer(flushInterval)
	t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		t.Reset(flushInterval)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.armed = false
		if err := s.flushLocked(); err != nil && s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
}

func (s *batchedStorage) Open() error { return nil }

func (s *batchedStorage) Close() error {
	close(s.stop)
	s.bg.Wait()
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if err == nil {
		s.saveFilter()
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if cerr := s.files.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *batchedStorage) Has(key string) (bool, error) {
	v, err := s.Get(key)
	return v != nil, err
}

func (s *batchedStorage) Get(key string) ([]byte, error) {
	k := []byte(key)
	s.mu.Lock()
	v, ok := s.pending[key]
	never := !ok && s.filter != nil && !s.filter.mayHold(k)
	s.mu.Unlock()
	if ok || never {
		return v, nil
	}
	return s.stored(k)
}

// stored reads k from LevelDB, nil if it is not there.
func (s *batchedStorage) stored(k []byte) ([]byte, error) {
	v, err := s.db.Get(k, nil)
	if err == leveldb.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leveldb get %q: %w", k, err)
	}
	return v, nil
}

func (s *batchedStorage) Set(key string, value []byte) error {
	// Codecs may reuse their buffers; the map keeps a copy. Only nil
	// marks a delete, so an empty value stays non-nil.
	return s.update(key, append(make([]byte, 0, len(value)), value...))
}

func (s *batchedStorage) Delete(key string) error { return s.update(key, nil) }

func (s *batchedStorage) update(key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.pending[key] = v
	s.track(key, v != nil)
	if len(s.pending) >= flushEntries {
		return s.flushLocked()
	}
	s.armLocked()
	return nil
}

// GetOffset returns the offset this store has reached: the latest one set,
// or the stored one after a restart.
func (s *batchedStorage) GetOffset(def int64) (int64, error) {
	if o := s.offset.Load(); o != 0 {
		return o, nil
	}
	v, err := s.stored([]byte(offsetKey)) // never pending, nor in filter
	if err != nil || v == nil {
		return def, err
	}
	o, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("leveldb offset %q: %w", v, err)
	}
	return o, nil
}

func (s *batchedStorage) SetOffset(offset int64) error {
	s.offset.Store(offset)
	s.mu.Lock()
	s.dirty = true
	s.armLocked()
	err := s.err
	s.mu.Unlock()
	return err
}

// MarkRecovered has the filter built if a reopened store loaded none: once
// recovered, so that the scan does not take turns for mu with the
// recovery's writes.
func (s *batchedStorage) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filter == nil && s.building == nil {
		s.startBuild()
	}
	return s.flushLocked()
}

// saveFilter leaves a closed store's filter for the next open, which
// would otherwise read the whole store to build it: that made a warm start
// with 1M connections take 2.2 s instead of 1.0. Without it, only that
// cost is paid again.
func (s *batchedStorage) saveFilter() {
	off, err := s.stored([]byte(offsetKey))
	if s.filter == nil || err != nil || off == nil {
		return
	}
	if err := saveFilter(s.dir, off, s.filter); err != nil {
		s.log.Warn("could not save a store's key filter; the next start reads the store to build it",
			"dir", s.dir, "error", err)
	}
}

// track keeps the filters up to date with an update of key (set: not a
// delete), and has filter built again once half the keys it holds have
// been deleted: a filter never forgets keys, and the table's connections
// come and go.
func (s *batchedStorage) track(key string, set bool) {
	if !set {
		s.deletes++
		if s.filter != nil && s.building == nil && s.deletes > max(s.filter.keys/2, filterFirstKeys) {
			s.startBuild()
		}
		return
	}
	k := []byte(key)
	for _, f := range []*keyFilter{s.filter, s.building} {
		if f != nil {
			f.add(k)
		}
	}
}

// startBuild has a new filter built from the store's contents. Callers
// hold mu, or own s.
func (s *batchedStorage) startBuild() {
	s.building = newKeyFilter()
	s.bg.Add(1)
	go s.build(s.building)
}

// build adds the keys of a snapshot to f, which updates have gone into
// since startBuild, so that f holds every key the store holds when it
// replaces filter. A failed build leaves filter as it is: one that has
// never been built (nil) only makes Get read LevelDB.
func (s *batchedStorage) build(f *keyFilter) {
	defer s.bg.Done()
	done := false
	defer func() {
		s.mu.Lock()
		if done {
			s.filter, s.deletes = f, 0
		}
		s.building = nil
		s.mu.Unlock()
	}()
	s.mu.Lock()
	err := s.flushLocked() // the snapshot must hold what is pending
	s.mu.Unlock()
	if err != nil {
		return
	}
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return
	}
	defer snap.Release()
	it := snap.NewIterator(nil, &opt.ReadOptions{DontFillCache: true})
	defer it.Release()
	// Keys are read in chunks outside mu, which Get and Set need.
	var keys [][]byte
	for more := true; more; {
		select {
		case <-s.stop:
			return
		default:
		}
		keys = keys[:0]
		for len(keys) < 1024 && it.Next() {
			if k := it.Key(); string(k) != offsetKey {
				keys = append(keys, bytes.Clone(k))
			}
		}
		more = len(keys) > 0
		s.mu.Lock()
		for _, k := range keys {
			f.add(k)
		}
		s.mu.Unlock()
	}
	done = it.Error() == nil
}

// flushLocked writes the pending updates and the offset in one atomic
// batch; a key updated several times since the last one is written once.
func (s *batchedStorage) flushLocked() error {
	var b leveldb.Batch
	for k, v := range s.pending {
		if v == nil {
			b.Delete([]byte(k))
		} else {
			b.Put([]byte(k), v)
		}
	}
	if o := s.offset.Load(); s.dirty && o != 0 {
		// During recovery too: the batch holds the data up to o, so the
		// store is consistent at o whatever phase it crashes in.
		b.Put([]byte(offsetKey), strconv.AppendInt(nil, o, 10))
	}
	if b.Len() == 0 {
		return nil
	}
	if err := s.db.Write(&b, nil); err != nil {
		return fmt.Errorf("leveldb write: %w", err)
	}
	s.dirty = false
	clear(s.pending)
	return nil
}

func (s *batchedStorage) Iterator() (storage.Iterator, error) {
	return s.IteratorWithRange(nil, nil)
}

// IteratorWithRange writes what is pending first, so the iterator sees
// every update made before it.
func (s *batchedStorage) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r := util.BytesPrefix(start)
	if len(limit) > 0 {
		r = &util.Range{Start: start, Limit: limit}
	}
	return &ldbIterator{s.db.NewIterator(r, &opt.ReadOptions{DontFillCache: true})}, nil
}

// ldbIterator skips the offset key, as goka's does.
type ldbIterator struct{ ldbiter.Iterator }

func (i *ldbIterator) Next() bool {
	ok := i.Iterator.Next()
	if ok && string(i.Key()) == offsetKey {
		ok = i.Iterator.Next()
	}
	return ok
}

func (i *ldbIterator) Err() error { return i.Error() }

func (i *ldbIterator) Value() ([]byte, error) { return i.Iterator.Value(), nil }
