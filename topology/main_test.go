package topology_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// A closed LevelDB store's pool drainer waits up to 1 s before it
		// returns; a store left open would still show its other goroutines.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
		// sarama's and go-metrics' process-wide background goroutine
		// (TestGroupOffsets talks to a broker).
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}
