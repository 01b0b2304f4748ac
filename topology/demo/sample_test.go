package demo

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

// TestSampleLogIsGenerated keeps the bundled sample.log equal to what
// GenerateSample makes; UPDATE_GOLDEN=1 rewrites it.
func TestSampleLogIsGenerated(t *testing.T) {
	want := strings.Join(GenerateSample(), "\n") + "\n"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile("sample.log", []byte(want), 0o644))
	}
	got, err := os.ReadFile("sample.log")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "sample.log is stale: run UPDATE_GOLDEN=1 go test ./topology/demo")
}

// TestSampleLogParses checks the sample has exactly the planted bad and
// forwarded lines, and that every other line parses.
func TestSampleLogParses(t *testing.T) {
	var bad, forwarded, ok int
	for _, l := range SampleLog() {
		_, err := schemas.ParseLine([]byte(l), schemas.ParseOptions{Cluster: "c"})
		switch {
		case err == nil:
			ok++
		case err == schemas.ErrForwarded:
			forwarded++
		default:
			bad++
		}
	}
	require.Equal(t, 1, bad)
	require.Equal(t, 1, forwarded)
	require.Greater(t, ok, 500)
}
