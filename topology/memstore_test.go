package topology

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openMemory(t testing.TB) storage.Storage {
	t.Helper()
	st, err := memoryBuilder()("table", 0)
	require.NoError(t, err)
	require.NoError(t, st.Open())
	return st
}

// The in-memory store reads as the LevelDB one does (TestBatchedStorage).
func TestMemStorage(t *testing.T) {
	st := openMemory(t)
	off, err := st.GetOffset(-2)
	require.NoError(t, err)
	require.EqualValues(t, -2, off, "no offset yet")

	checkUpdates(t, st, 0) // offset 0 is an offset
	require.NoError(t, st.MarkRecovered())
	require.NoError(t, st.Close())
}

// Iterators see a sorted snapshot of LevelDB-style ranges: a prefix when
// limit is empty, else [start, limit).
func TestMemStorageIterators(t *testing.T) {
	st := openMemory(t)
	for _, k := range []string{"b|2", "a|1", "b|1", "c", "a|2", "b"} {
		require.NoError(t, st.Set(k, []byte("v"+k)))
	}
	keys := func(it storage.Iterator) []string {
		t.Helper()
		var got []string
		for it.Next() {
			v, err := it.Value()
			require.NoError(t, err)
			require.Equal(t, "v"+string(it.Key()), string(v))
			got = append(got, string(it.Key()))
		}
		require.NoError(t, it.Err())
		require.False(t, it.Next(), "an exhausted iterator stays exhausted")
		require.Nil(t, it.Key())
		it.Release()
		return got
	}
	for _, tc := range []struct {
		name         string
		start, limit string
		want         []string
	}{
		{"all", "", "", []string{"a|1", "a|2", "b", "b|1", "b|2", "c"}},
		{"prefix", "b|", "", []string{"b|1", "b|2"}},
		{"prefix matching a key", "b", "", []string{"b", "b|1", "b|2"}},
		{"range, limit excluded", "a|2", "b|2", []string{"a|2", "b", "b|1"}},
		{"nothing", "d", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, err := st.IteratorWithRange([]byte(tc.start), []byte(tc.limit))
			require.NoError(t, err)
			require.Equal(t, tc.want, keys(it))
		})
	}

	it, err := st.Iterator()
	require.NoError(t, err)
	require.NoError(t, st.Set("a|0", []byte("va|0")))
	require.NoError(t, st.Delete("c"))
	require.Equal(t, []string{"a|1", "a|2", "b", "b|1", "b|2", "c"}, keys(it), "a snapshot")

	it, err = st.Iterator()
	require.NoError(t, err)
	require.True(t, it.Seek([]byte("a|3")), "the first key at or after")
	require.Equal(t, "b", string(it.Key()))
	require.True(t, it.Next())
	require.Equal(t, "b|1", string(it.Key()))
	require.False(t, it.Seek([]byte("z")))
	it.Release()
	require.False(t, it.Next(), "a released iterator is exhausted")
}

// Updates, lookups and iterators may run at once (goka's views are read
// by the query API and the sweeper while their partitions update).
func TestMemStorageConcurrent(t *testing.T) {
	st := openMemory(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("%d|%d", w, i%50)
				assert.NoError(t, st.Set(k, []byte{byte(i)}))
				_, err := st.Get(k)
				assert.NoError(t, err)
				if i%7 == 0 {
					assert.NoError(t, st.Delete(k))
				}
				if i%100 == 0 {
					it, err := st.Iterator()
					if !assert.NoError(t, err) {
						return
					}
					for it.Next() {
						_, err := it.Value()
						assert.NoError(t, err)
					}
					it.Release()
				}
			}
		})
	}
	wg.Wait()
	require.NotEmpty(t, contents(t, st))
}

// BenchmarkMemoryStoreNewKeys times adding a new key to a store that holds
// n, and deleting one: what each new and each evicted connection costs a
// partition of the connections table without a state dir.
func BenchmarkMemoryStoreNewKeys(b *testing.B) {
	for _, store := range []struct {
		name  string
		build storage.Builder
	}{{"goka", storage.MemoryBuilder()}, {"kaudit", memoryBuilder()}} {
		for _, n := range []int{1_000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/held=%d", store.name, n), func(b *testing.B) {
				st, err := store.build("table", 0)
				require.NoError(b, err)
				value := make([]byte, 250)
				for i := range n {
					require.NoError(b, st.Set(fmt.Sprintf("lkc-1|10.0.0.1:9092-10.1.%d.%d:5000-%d", i%250, i/250, i), value))
				}
				for i := 0; b.Loop(); i++ {
					k := fmt.Sprintf("lkc-1|10.0.0.2:9092-10.2.%d.%d:6000-%d", i%250, i/250, i)
					if err := st.Set(k, value); err != nil {
						b.Fatal(err)
					}
					if err := st.Delete(k); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
