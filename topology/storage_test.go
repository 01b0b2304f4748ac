package topology

import (
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
)

func openBatched(t *testing.T, dir string) storage.Storage {
	t.Helper()
	st, err := batchedBuilder(dir)("table", 0)
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

// The batched store must read like goka's: pending updates are visible at
// once, iterators see them and never the offset key, and a reopened store
// has what was written before Close, offset included.
func TestBatchedStorage(t *testing.T) {
	dir := t.TempDir()
	st := openBatched(t, dir)

	buf := []byte("v1")
	require.NoError(t, st.Set("a", buf))
	buf[1] = 'X' // a codec reusing its buffer must not change the stored value
	require.NoError(t, st.Set("b", []byte("v2")))
	require.NoError(t, st.Set("c", []byte("v3")))
	require.NoError(t, st.Delete("c"))
	require.NoError(t, st.SetOffset(41))
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
	require.EqualValues(t, 41, off)
	require.Equal(t, map[string]string{"a": "v1", "b": "v2"}, contents(t, st))

	// Updates after an iterator flushed the batch are batched again.
	require.NoError(t, st.MarkRecovered())
	require.NoError(t, st.Set("b", []byte("v2'")))
	require.NoError(t, st.Delete("a"))
	require.NoError(t, st.SetOffset(42))
	require.NoError(t, st.Close())

	st = openBatched(t, dir)
	defer func() { require.NoError(t, st.Close()) }()
	off, err = st.GetOffset(-2)
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
