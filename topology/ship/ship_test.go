package ship_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology/ship"
)

// fakeSink records what it is sent.
type fakeSink struct {
	mu    sync.Mutex
	lines []ship.Line
}

func (f *fakeSink) Send(_ context.Context, batch []ship.Line) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range batch {
		f.lines = append(f.lines, ship.Line{Key: append([]byte(nil), l.Key...), Value: append([]byte(nil), l.Value...)})
	}
	return 0, nil
}

func (f *fakeSink) values() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.lines))
	for i, l := range f.lines {
		out[i] = string(l.Value)
	}
	return out
}

// harness writes a request log in a temp dir and runs shippers on it.
type harness struct {
	t       *testing.T
	dir     string
	live    string
	ckpt    string
	sink    *fakeSink
	written []string
	seq     int
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	state := t.TempDir()
	return &harness{t: t, dir: dir, live: filepath.Join(dir, "kafka-request.log"), ckpt: filepath.Join(state, "ship.checkpoint"), sink: &fakeSink{}}
}

// lines makes n request-log lines, spread over three connections.
func (h *harness) lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		h.seq++
		out[i] = fmt.Sprintf(`[2024-10-25 09:%02d:%02d,%03d] DEBUG Completed request:{"requestHeader":{"correlationId":%d},"connection":"10.0.0.1:9092-10.0.0.2:4000-%d","totalTimeMs":0.1} (kafka.request.logger)`,
			h.seq/3600%60, h.seq/60%60, h.seq%1000, h.seq, h.seq%3)
	}
	return out
}

// write appends n new lines to path and remembers them as written.
func (h *harness) write(path string, n int) {
	h.t.Helper()
	ls := h.lines(n)
	h.appendRaw(path, strings.Join(ls, "\n")+"\n")
	h.written = append(h.written, ls...)
}

func (h *harness) appendRaw(path, data string) {
	h.t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(h.t, err)
	_, err = f.WriteString(data)
	require.NoError(h.t, err)
	require.NoError(h.t, f.Close())
}

// rotate renames the live file as log4j does; the next write creates a
// new one.
func (h *harness) rotate(suffix string) string {
	h.t.Helper()
	to := h.live + suffix
	require.NoError(h.t, os.Rename(h.live, to))
	return to
}

// gzip replaces path with path.gz, as log4j2's compression does.
func gzipFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := os.Create(path + ".gz")
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(path))
}

// start runs a shipper until the returned func stops it gracefully.
func (h *harness) start(opts ...func(*ship.Options)) (*ship.Shipper, func()) {
	h.t.Helper()
	o := ship.Options{
		File: h.live, Checkpoint: h.ckpt, FlushInterval: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		BatchLines: 7, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if os.Getenv("KAUDIT_TEST_LOG") != "" {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := ship.New(o, h.sink)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(h.t, err)
		case <-time.After(10 * time.Second):
			h.t.Fatal("shipper did not stop")
		}
	}
	h.t.Cleanup(stop)
	return s, stop
}

// waitShipped waits until n lines arrived.
func (h *harness) waitShipped(n int) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return len(h.sink.values()) >= n }, 10*time.Second, 2*time.Millisecond,
		"want %d lines shipped", n)
}

// requireExactlyOnce checks every written line arrived once, in order.
func (h *harness) requireExactlyOnce() {
	h.t.Helper()
	require.Equal(h.t, h.written, h.sink.values())
}

func TestShipFollowsLog4jRotation(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 10)
	s, stop := h.start()
	h.waitShipped(10)

	// Lines written just before the rename are drained from the old file.
	h.write(h.live, 5)
	h.rotate(".2024-10-25-09")
	h.write(h.live, 5)
	h.waitShipped(20)
	h.rotate(".2024-10-25-10")
	h.write(h.live, 4)
	h.waitShipped(24)
	stop()
	h.requireExactlyOnce()
	require.EqualValues(t, 2, s.Stats().Rotations)

	ck, err := ship.LoadCheckpoint(h.ckpt)
	require.NoError(t, err)
	fi, err := os.Stat(h.live)
	require.NoError(t, err)
	require.Equal(t, fi.Size(), ck.Offset, "the checkpoint is at the end of the live file")
}

func TestShipResumesAcrossRotationsWhileStopped(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 10)
	_, stop := h.start()
	h.waitShipped(10)
	stop()

	// While stopped: more lines, two hourly rotations, a new live file.
	h.write(h.live, 5)
	h.rotate(".2024-10-25-09")
	h.write(h.live, 6)
	h.rotate(".2024-10-25-10")
	h.write(h.live, 3)

	_, stop = h.start()
	h.waitShipped(24)
	h.write(h.live, 2)
	h.waitShipped(26)
	stop()
	h.requireExactlyOnce()
}

func TestShipLog4j2GzippedRolls(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 10)
	_, stop := h.start()
	h.waitShipped(10)

	// While running: roll to .1 and gzip it after it was shipped; the .gz
	// is the same content and must not be shipped again.
	h.write(h.live, 3)
	h.rotate(".1")
	h.write(h.live, 4)
	h.waitShipped(17)
	gzipFile(t, h.live+".1")
	h.write(h.live, 2)
	h.waitShipped(19)
	// Roll again, shifting .1.gz to .2.gz and gzipping it again afterwards,
	// so a copy of the first file is the newest rotated file when the
	// shipper looks for the file after the second.
	require.NoError(t, os.Rename(h.live+".1.gz", h.live+".2"))
	h.rotate(".1")
	require.NoError(t, os.Remove(h.live+".2"))
	h.write(h.live, 1)
	h.waitShipped(20)
	gzipFile(t, h.live+".1")
	stop()

	// While stopped: the checkpointed file gets more lines, is rolled and
	// gzipped (the old roll shifts to .2), and a new file starts.
	h.write(h.live, 5)
	require.NoError(t, os.Rename(h.live+".1.gz", h.live+".2.gz"))
	h.rotate(".1")
	gzipFile(t, h.live+".1")
	h.write(h.live, 3)

	_, stop = h.start()
	h.waitShipped(28)
	h.write(h.live, 1)
	h.waitShipped(29)
	stop()
	h.requireExactlyOnce()
}

func TestShipPartialLastLine(t *testing.T) {
	h := newHarness(t)
	ls := h.lines(2)
	h.appendRaw(h.live, ls[0]+"\n"+ls[1][:40])
	s, stop := h.start()
	h.waitShipped(1)
	// Several polls later the half line is still not shipped.
	time.Sleep(30 * time.Millisecond)
	require.Len(t, h.sink.values(), 1)
	h.appendRaw(h.live, ls[1][40:]+"\n")
	h.waitShipped(2)
	stop()
	h.written = ls
	h.requireExactlyOnce()
	require.EqualValues(t, 2, s.Stats().Batches, "the half line was not sent with the first")

	// A restart does not ship them again.
	_, stop = h.start()
	h.write(h.live, 1)
	h.waitShipped(3)
	stop()
	h.requireExactlyOnce()
}

func TestShipSkipsEmptyAndOverlongLines(t *testing.T) {
	h := newHarness(t)
	ls := h.lines(2)
	h.appendRaw(h.live, "\n"+ls[0]+"\r\n  \n"+strings.Repeat("x", 500)+"\n"+ls[1]+"\n")
	s, stop := h.start(func(o *ship.Options) { o.MaxLineBytes = 300 })
	h.waitShipped(2)
	stop()
	h.written = ls
	h.requireExactlyOnce()
	st := s.Stats()
	require.EqualValues(t, 2, st.Empty)
	require.EqualValues(t, 1, st.TooLong)
	require.Equal(t, "10.0.0.1:9092-10.0.0.2:4000-1", string(h.sink.lines[0].Key), "keyed by connection id")
}

func TestShipCopyTruncate(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 5)
	_, stop := h.start()
	h.waitShipped(5)
	require.NoError(t, os.Truncate(h.live, 0))
	h.write(h.live, 2)
	h.waitShipped(7)
	stop()
	h.requireExactlyOnce()
}

func TestShipCheckpointedFileDeleted(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 5)
	_, stop := h.start()
	h.waitShipped(5)
	stop()

	// The checkpointed file is rotated and deleted by retention while the
	// shipper is down: its unshipped lines are lost, newer files are not.
	lost := h.lines(2)
	h.appendRaw(h.live, strings.Join(lost, "\n")+"\n")
	require.NoError(t, os.Remove(h.rotate(".2024-10-25-09")))
	h.write(h.live, 3)
	_, stop = h.start()
	h.waitShipped(8)
	stop()
	h.requireExactlyOnce()
}

func TestShipInodeReuseIsNotResumed(t *testing.T) {
	h := newHarness(t)
	h.write(h.live, 4)
	_, stop := h.start()
	h.waitShipped(4)
	stop()

	// Same inode, other content: as if the file was deleted and its inode
	// reused. The offset must not be applied to the new content.
	ck, err := ship.LoadCheckpoint(h.ckpt)
	require.NoError(t, err)
	ck.Sum = strings.Repeat("0", 64)
	ck.Updated = time.Now().Add(-time.Hour)
	require.NoError(t, ship.SaveCheckpoint(h.ckpt, *ck))
	_, stop = h.start()
	h.waitShipped(8)
	stop()
	require.Equal(t, append(h.written, h.written...), h.sink.values(), "the unknown file is shipped from its start")
}

func TestShipWaitsForTheLiveFile(t *testing.T) {
	h := newHarness(t)
	h.live = filepath.Join(h.dir, "not-yet", "kafka-request.log")
	_, stop := h.start()
	require.NoError(t, os.Mkdir(filepath.Dir(h.live), 0o755))
	h.write(h.live, 3)
	h.waitShipped(3)
	stop()
	h.requireExactlyOnce()
}

func TestShipCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck")
	got, err := ship.LoadCheckpoint(path)
	require.NoError(t, err)
	require.Nil(t, got, "no checkpoint yet")

	want := ship.Checkpoint{
		File: "/var/log/kafka/kafka-request.log", FileID: ship.FileID{Dev: 2049, Ino: 1234567},
		Fingerprint: ship.Fingerprint{Len: 1024, Sum: strings.Repeat("ab", 32)}, Offset: 987654,
		Updated: time.Date(2024, 10, 25, 9, 14, 0, 0, time.UTC),
	}
	require.NoError(t, ship.SaveCheckpoint(path, want))
	got, err = ship.LoadCheckpoint(path)
	require.NoError(t, err)
	want.Version = 1
	require.Equal(t, want, *got)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temp file left behind")

	for name, content := range map[string]string{
		"not JSON":      "{",
		"other version": `{"version":2}`,
		"bad offset":    `{"version":1,"offset":-1}`,
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			_, err := ship.LoadCheckpoint(path)
			require.Error(t, err)
		})
	}
}
