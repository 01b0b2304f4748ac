package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

func TestMerge(t *testing.T) {
	const id = "Yc7mOg7bRMq1wJjVh2N1xQ"
	info := func(name string, deleted bool) *schemas.TopicInfo {
		return &schemas.TopicInfo{Cluster: "lkc-1", ID: id, Name: name, Deleted: deleted}
	}
	for _, tc := range []struct {
		name      string
		old, seen *schemas.TopicInfo
		want      *schemas.TopicInfo
	}{
		{name: "first sighting is stored as seen", old: nil, seen: info("orders", false), want: info("orders", false)},
		{name: "first sighting may be the deletion", old: nil, seen: info("orders", true), want: info("orders", true)},
		{name: "live stays live", old: info("orders", false), seen: info("orders", false), want: info("orders", false)},
		{name: "deletion marks a live id deleted", old: info("orders", false), seen: info("orders", true), want: info("orders", true)},
		{name: "deleted stays deleted when a late Metadata response arrives", old: info("orders", true), seen: info("orders", false), want: info("orders", true)},
		{name: "deleted seen deleted again", old: info("orders", true), seen: info("orders", true), want: info("orders", true)},
		{name: "the newest name wins", old: info("orders", false), seen: info("orders-v2", false), want: info("orders-v2", false)},
		{name: "the newest name wins and deletion sticks", old: info("orders", true), seen: info("orders-v2", false), want: info("orders-v2", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var oldCopy schemas.TopicInfo
			if tc.old != nil {
				oldCopy = *tc.old
			}
			seenCopy := *tc.seen

			got := Merge(tc.old, tc.seen)
			require.Equal(t, tc.want, got)
			// Merge must not write through its arguments: old is the value
			// Update compares against to skip no-op writes.
			if tc.old != nil {
				require.Equal(t, oldCopy, *tc.old, "old was modified")
				require.NotSame(t, tc.old, got)
			}
			require.Equal(t, seenCopy, *tc.seen, "seen was modified")
		})
	}
}
