package enrich

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

// TestStructuredFastPath checks that structured records skipping the
// binding are byte for byte what the binding writes, headers included, and
// that the characters json.Marshal escapes send a record down the binding.
func TestStructuredFastPath(t *testing.T) {
	var events []cloudevents.Event
	for name, tc := range seedCases {
		line, err := os.ReadFile(filepath.Join("testdata", "seed", name+".log"))
		require.NoError(t, err)
		r, err := schemas.ParseLine(line, schemas.ParseOptions{Cluster: tc.cluster.ID})
		require.NoError(t, err)
		recs, err := Enrich(r, tc.cluster, Lookups{})
		require.NoError(t, err)
		for _, rec := range recs {
			_, fast := structuredJSON(rec.Event)
			require.True(t, fast, "%s takes the fast path", name)
			events = append(events, rec.Event)
		}
	}
	for _, subject := range []string{"a<b", "a>b", "a&b", "a\u2028b", "a\u2029b", "a…b"} {
		ev := events[0].Clone()
		ev.SetSubject(subject)
		_, fast := structuredJSON(ev)
		require.False(t, fast, "%q needs json.Marshal's escaping", subject)
		events = append(events, ev)
	}
	for _, ev := range events {
		t.Run(ev.Subject(), func(t *testing.T) {
			want, wantHeaders, err := viaBinding(binding.WithForceStructured(context.Background()), ev)
			require.NoError(t, err)
			got, headers, err := Encode(ev, schemas.EncodingStructured)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
			require.Equal(t, wantHeaders, headers)
			require.False(t, strings.ContainsAny(string(got), "<>&\u2028\u2029"), "escaped as json.Marshal does")
		})
	}
}

// BenchmarkEncodeStructured compares the structured fast path with the
// binding, for a Produce record.
func BenchmarkEncodeStructured(b *testing.B) {
	line, err := os.ReadFile(filepath.Join("testdata", "seed", "produce_success.log"))
	require.NoError(b, err)
	r, err := schemas.ParseLine(line, schemas.ParseOptions{Cluster: clusterDocs.ID})
	require.NoError(b, err)
	recs, err := Enrich(r, clusterDocs, Lookups{})
	require.NoError(b, err)
	ev := recs[0].Event
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Encode(ev, schemas.EncodingStructured); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binding", func(b *testing.B) {
		ctx := binding.WithForceStructured(context.Background())
		for b.Loop() {
			if _, _, err := viaBinding(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
