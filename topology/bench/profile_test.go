package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pprofServer serves Go's own profile and trace handlers, as `kaudit run
// --pprof` does.
func pprofServer(t *testing.T) *pipeline {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &pipeline{http: srv.URL}
}

// A CPU profile and a trace taken at once are both written. A second CPU
// profile while one runs is refused by the runtime, which is why the
// throughput run's profile is waited for before the latency phase starts.
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	r := &run{o: Options{ProfileDir: dir}}
	p := pprofServer(t)

	ps := r.startProfiles(context.Background(), p,
		profileReq{endpoint: "profile", d: time.Second, file: "a.cpu.pprof"},
		profileReq{endpoint: "trace", d: time.Second, file: "a.trace"},
		profileReq{endpoint: "profile", after: 300 * time.Millisecond, d: time.Second, file: "b.cpu.pprof"})
	err := ps.wait()
	require.ErrorContains(t, err, "profile b.cpu.pprof: 500")
	require.ErrorContains(t, err, "already in use")
	require.NoError(t, ps.wait(), "nothing is left to wait for")

	cpu, err := os.ReadFile(filepath.Join(dir, "a.cpu.pprof"))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(cpu, []byte{0x1f, 0x8b}), "a CPU profile is gzipped protobuf")
	trace, err := os.ReadFile(filepath.Join(dir, "a.trace"))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(trace, []byte("go 1.")), "an execution trace starts with its version")
	require.NoFileExists(t, filepath.Join(dir, "b.cpu.pprof"))
}

// Without a profile dir nothing is started, and a phase's wait and stop
// are no-ops; stop gives up on a profile not yet begun.
func TestProfilesOffAndStopped(t *testing.T) {
	off := &run{}
	ps := off.startProfiles(context.Background(), pprofServer(t), profileReq{endpoint: "profile", d: time.Second, file: "x"})
	require.Nil(t, ps)
	require.NoError(t, ps.wait())
	ps.stop()

	dir := t.TempDir()
	on := &run{o: Options{ProfileDir: dir}}
	ps = on.startProfiles(context.Background(), pprofServer(t), profileReq{endpoint: "trace", after: time.Hour, d: time.Second, file: "x"})
	ps.stop() // returns at once; TestMain's goleak checks its goroutine ended
	require.NoFileExists(t, filepath.Join(dir, "x"))
}
