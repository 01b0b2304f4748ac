package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kaudit/kaudit/schemas"
)

// Options configure a Shipper.
type Options struct {
	// File is the live request log, e.g. /var/log/kafka/kafka-request.log.
	// Rotated files are its siblings whose names start with its name.
	File string
	// Checkpoint is the checkpoint file. Put it outside File's directory or
	// give it a name that does not start with File's name.
	Checkpoint string
	// BatchLines and BatchBytes flush a batch when it holds that many lines
	// or bytes (defaults 5000 and 1 MiB).
	BatchLines int
	BatchBytes int
	// FlushInterval flushes a non-empty batch this long after its first
	// line was read (default 500ms).
	FlushInterval time.Duration
	// PollInterval is how often the live file is checked for new lines and
	// rotation when it has none (default 200ms).
	PollInterval time.Duration
	// ShutdownTimeout bounds the last flush on a graceful stop (default
	// 15s); lines not acknowledged by then are shipped again next start.
	ShutdownTimeout time.Duration
	// MaxLineBytes skips longer lines (default schemas.MaxLineBytes, which
	// kaudit would dead-letter as too-large anyway).
	MaxLineBytes int
	Log          *slog.Logger
}

func (o *Options) setDefaults() {
	if o.BatchLines <= 0 {
		o.BatchLines = 5000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 500 * time.Millisecond
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = schemas.MaxLineBytes
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Stats are a shipper's counters since it started.
type Stats struct {
	Shipped   int64 // lines acknowledged by the sink
	Empty     int64 // blank lines skipped
	TooLong   int64 // lines over MaxLineBytes (or refused by Kafka as too large) skipped
	Batches   int64 // batches sent
	Rotations int64 // files finished because they were rotated
	Files     int64 // files opened
}

// Shipper tails one request log into a Sink. Run it once.
type Shipper struct {
	o    Options
	sink Sink
	log  *slog.Logger

	shipped, empty, tooLong, batches, rotations, files atomic.Int64
	lastLoop                                           atomic.Int64 // unix nanos, for /healthz
	lag                                                atomic.Int64 // bytes of the current file not yet consumed
	sending                                            atomic.Bool

	batch      []Line
	batchBytes int
	batchSince time.Time
	saved      Checkpoint // the last checkpoint written
	done       []Fingerprint
}

// New checks the options and returns a shipper that sends to sink.
func New(o Options, sink Sink) (*Shipper, error) {
	o.setDefaults()
	var errs []error
	if o.File == "" {
		errs = append(errs, errors.New("file: required"))
	}
	if o.Checkpoint == "" {
		errs = append(errs, errors.New("checkpoint: required"))
	}
	if sink == nil {
		errs = append(errs, errors.New("sink: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var err error
	if o.File, err = filepath.Abs(o.File); err != nil {
		return nil, err
	}
	if o.Checkpoint, err = filepath.Abs(o.Checkpoint); err != nil {
		return nil, err
	}
	s := &Shipper{o: o, sink: sink, log: o.Log}
	s.lastLoop.Store(time.Now().UnixNano())
	return s, nil
}

// Stats returns the counters.
func (s *Shipper) Stats() Stats {
	return Stats{
		Shipped: s.shipped.Load(), Empty: s.empty.Load(), TooLong: s.tooLong.Load(),
		Batches: s.batches.Load(), Rotations: s.rotations.Load(), Files: s.files.Load(),
	}
}

// excluded leaves the checkpoint and its temp files out of the candidates.
func (s *Shipper) excluded(path string) bool { return strings.HasPrefix(path, s.o.Checkpoint) }

// after describes the file the shipper finished last: the next file is
// the oldest candidate modified since that is not one already shipped.
type after struct {
	id    FileID
	fp    Fingerprint
	mtime time.Time
}

// Run ships lines until ctx is done, then flushes what it has read,
// writes the checkpoint and returns nil. It returns an error only for a
// broken checkpoint or an unreadable file.
func (s *Shipper) Run(ctx context.Context) error {
	ck, err := LoadCheckpoint(s.o.Checkpoint)
	if err != nil {
		return err
	}
	if ck != nil {
		s.saved = *ck
		s.done = ck.Done
	}
	src, prev, err := s.resume(ck)
	if err != nil {
		return err
	}
	defer func() {
		if src != nil {
			src.Close()
		}
	}()

	for ctx.Err() == nil {
		s.lastLoop.Store(time.Now().UnixNano())
		if src == nil {
			if src, err = s.openNext(prev); err != nil {
				return err
			}
			if src == nil {
				s.wait(ctx, s.o.PollInterval) // no file yet
				continue
			}
		}
		progressed, err := s.pump(ctx, src)
		if err != nil {
			if src.gz && errors.Is(err, io.ErrUnexpectedEOF) {
				// Still being compressed: read it again from the offset later.
				s.log.Info("gzipped file incomplete; retrying", "file", src.path, "offset", src.offset())
				if src, err = s.reopen(src); err != nil {
					return err
				}
				s.wait(ctx, s.o.PollInterval)
				continue
			}
			return err
		}
		if s.full() || s.flushDue() || src.final && !progressed {
			if !s.flush(ctx, src) {
				s.wait(ctx, s.o.PollInterval) // the batch is kept and sent again
				continue
			}
		}
		if progressed {
			continue
		}
		if src.final {
			// Drained and acknowledged: move on to the next file.
			prev = s.finish(src)
			src.Close()
			src = nil
			continue
		}
		rotated, err := s.rotated(src)
		if err != nil {
			return err
		}
		if rotated {
			// The file is complete: drain it, its last line too, before
			// switching.
			src.final = true
			continue
		}
		if err := s.checkTruncated(src); err != nil {
			return err
		}
		s.wait(ctx, s.nextWake())
	}
	s.shutdown(ctx, src)
	return nil
}

// resume opens the file the checkpoint points into, at its offset. Without
// a checkpoint it opens the live file at its start (or returns nil to wait
// for it). If the checkpointed file is gone, it returns nil and an after
// that selects the files modified since the checkpoint was written.
func (s *Shipper) resume(ck *Checkpoint) (*source, after, error) {
	if ck == nil {
		// First start: the live file from its beginning; rotated files
		// from before are history, but any file modified from now on is
		// shipped.
		prev := after{mtime: time.Now()}
		src, err := s.openNext(prev)
		return src, prev, err
	}
	cands, err := candidates(s.o.File, s.excluded)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, after{}, err
	}
	var found *candidate
	for i, c := range cands {
		if c.id == ck.FileID && c.gz == ck.Gzip && c.matches(ck.Fingerprint) {
			found = &cands[i]
			break
		}
	}
	if found == nil {
		// Moved to another device, copied, or gzipped: find it by content.
		// Prefer the uncompressed copy while both exist.
		for i, c := range cands {
			if c.matches(ck.Fingerprint) && (found == nil || found.gz && !c.gz) {
				found = &cands[i]
			}
		}
	}
	if found == nil {
		s.log.Warn("checkpointed file not found: shipping the files modified since the checkpoint; lines of files deleted meanwhile are lost",
			"file", ck.File, "id", ck.FileID.String(), "checkpoint_time", ck.Updated)
		return nil, after{mtime: ck.Updated}, nil
	}
	offset := ck.Offset
	if !found.gz && found.size < offset {
		s.log.Warn("checkpointed file is shorter than the checkpoint offset (truncated?): reading it from the start",
			"file", found.path, "size", found.size, "offset", offset)
		offset = 0
	}
	src, err := openSource(*found, offset, s.o.MaxLineBytes)
	if err != nil {
		return nil, after{}, err
	}
	s.files.Add(1)
	s.log.Info("resuming", "file", found.path, "offset", offset, "rotated", !found.live)
	return src, after{}, nil
}

// openNext opens the oldest file, rotated or live, modified since prev and
// not shipped already; nil if there is none (the live file does not exist
// yet).
func (s *Shipper) openNext(prev after) (*source, error) {
	cands, err := candidates(s.o.File, s.excluded)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // the directory does not exist yet
	}
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		if !c.live && c.mtime.Before(prev.mtime) {
			continue
		}
		if s.alreadyShipped(c, prev) {
			continue
		}
		src, err := openSource(c, 0, s.o.MaxLineBytes)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated or deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		if src.id != c.id {
			// Rotated between the listing and the open: the path names a
			// newer file now, and the listed one must be read first.
			src.Close()
			return nil, nil
		}
		s.files.Add(1)
		s.log.Debug("reading file", "file", c.path, "id", c.id.String(), "rotated", !c.live)
		return src, nil
	}
	return nil, nil
}

// alreadyShipped reports whether c is a file already shipped: the one
// just finished (same identity and content; an empty one has no content to
// compare, and the live file with its inode is a new file that reused it),
// or a copy of a recent one (a gzipped rotated file has a new inode but the
// same first bytes).
func (s *Shipper) alreadyShipped(c candidate, prev after) bool {
	if prev.id != (FileID{}) && c.id == prev.id && (c.matches(prev.fp) || prev.fp.Len == 0 && !c.live) {
		return true
	}
	for _, fp := range s.done {
		if c.matches(fp) {
			return true
		}
	}
	return false
}

// maxDone bounds the fingerprints of finished files kept: more than a day
// of hourly rotations.
const maxDone = 32

// finish records a drained file so that its rotated copies are skipped.
func (s *Shipper) finish(src *source) after {
	s.rotations.Add(1)
	a := after{id: src.id, fp: src.fingerprint(src.offset())}
	if fi, err := src.f.Stat(); err == nil {
		a.mtime = fi.ModTime()
	}
	if a.fp.Len > 0 {
		s.done = append(s.done, a.fp)
		if len(s.done) > maxDone {
			s.done = s.done[len(s.done)-maxDone:]
		}
	}
	s.log.Info("finished rotated file", "file", src.path, "bytes", src.offset())
	return a
}

// reopen reopens a gzipped file at the current offset.
func (s *Shipper) reopen(src *source) (*source, error) {
	src.Close()
	c := candidate{path: src.path, id: src.id, gz: src.gz, live: src.live}
	n, err := openSource(c, src.offset(), s.o.MaxLineBytes)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", src.path, err)
	}
	n.fp, n.final = src.fp, src.final
	return n, nil
}

// pump reads the complete lines available into the batch until it is
// full. A rotated (final) file's unterminated last line is read too.
func (s *Shipper) pump(ctx context.Context, src *source) (progressed bool, err error) {
	for ctx.Err() == nil && !s.full() {
		line, _, kind, ok, err := src.readLine(src.final)
		if err != nil {
			return progressed, fmt.Errorf("read %s: %w", src.path, err)
		}
		if !ok {
			return progressed, nil
		}
		progressed = true
		switch kind {
		case lineEmpty:
			s.empty.Add(1)
			continue
		case lineTooLong:
			s.tooLong.Add(1)
			s.log.Warn("line skipped: longer than the limit", "file", src.path, "end_offset", src.offset(), "limit", s.o.MaxLineBytes)
			continue
		}
		v := append([]byte(nil), line...)
		if len(s.batch) == 0 {
			s.batchSince = time.Now()
		}
		s.batch = append(s.batch, Line{Key: ConnectionID(v), Value: v})
		s.batchBytes += len(v)
	}
	return progressed, nil
}

func (s *Shipper) full() bool {
	return len(s.batch) >= s.o.BatchLines || s.batchBytes >= s.o.BatchBytes
}

func (s *Shipper) flushDue() bool {
	return len(s.batch) > 0 && time.Since(s.batchSince) >= s.o.FlushInterval
}

// nextWake is how long to sleep at the end of the data: until the next
// poll, or sooner if a batch is due.
func (s *Shipper) nextWake() time.Duration {
	d := s.o.PollInterval
	if len(s.batch) > 0 {
		d = min(d, max(0, s.o.FlushInterval-time.Since(s.batchSince)))
	}
	return d
}

// flush sends the batch and then checkpoints src's offset. It reports
// false if the send failed because ctx is done; the batch is kept for the
// last flush.
func (s *Shipper) flush(ctx context.Context, src *source) bool {
	if len(s.batch) > 0 {
		s.sending.Store(true)
		dropped, err := s.sink.Send(ctx, s.batch)
		s.sending.Store(false)
		s.lastLoop.Store(time.Now().UnixNano())
		if err != nil {
			s.log.Warn("send failed", "lines", len(s.batch), "err", err)
			return false
		}
		s.shipped.Add(int64(len(s.batch) - dropped))
		s.tooLong.Add(int64(dropped))
		s.batches.Add(1)
		clear(s.batch)
		s.batch, s.batchBytes = s.batch[:0], 0
	}
	s.checkpoint(src)
	return true
}

// checkpoint writes src's offset if it moved. A failed write is logged and
// retried at the next flush: the lines are shipped, and a restart before
// the next write ships them again (at-least-once).
func (s *Shipper) checkpoint(src *source) {
	off := src.offset()
	if s.saved.FileID == src.id && s.saved.Gzip == src.gz && s.saved.Offset == off {
		return
	}
	if off == 0 {
		return // nothing consumed: the previous checkpoint still says where to start
	}
	c := Checkpoint{
		File: src.path, FileID: src.id, Fingerprint: src.fingerprint(off), Gzip: src.gz, Offset: off,
		Updated: time.Now().UTC(), Done: s.done,
	}
	if err := SaveCheckpoint(s.o.Checkpoint, c); err != nil {
		s.log.Error("checkpoint not written", "err", err)
		return
	}
	s.saved = c
}

// rotated reports whether src is no longer the live file: the live path is
// gone or names another file. A file opened as rotated always is.
func (s *Shipper) rotated(src *source) (bool, error) {
	if !src.live {
		return true, nil
	}
	id, ok, err := statLive(s.o.File)
	if err != nil {
		return false, err
	}
	if ok && id == src.id {
		if fi, err := src.f.Stat(); err == nil {
			s.lag.Store(max(0, fi.Size()-src.offset()))
		}
		return false, nil
	}
	s.log.Debug("rotation seen", "file", src.path, "old", src.id.String(), "new", id.String(), "exists", ok)
	return true, nil
}

// checkTruncated restarts a live file that shrank below the read offset
// (copytruncate rotation): its new content starts at 0.
func (s *Shipper) checkTruncated(src *source) error {
	if src.gz {
		return nil
	}
	fi, err := src.f.Stat()
	if err != nil {
		return err
	}
	if end := src.bufOff + int64(len(src.buf)); fi.Size() < end {
		s.log.Warn("file truncated: reading it again from the start", "file", src.path, "size", fi.Size(), "offset", end)
		if _, err := src.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		src.buf, src.start, src.bufOff, src.skipping, src.fp = src.buf[:0], 0, 0, false, Fingerprint{}
	}
	return nil
}

// shutdown flushes what was read, with a fresh deadline, and checkpoints.
func (s *Shipper) shutdown(ctx context.Context, src *source) {
	if src == nil {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	if s.flush(fctx, src) {
		s.log.Info("stopped", "file", src.path, "offset", src.offset(), "shipped", s.shipped.Load())
	} else {
		s.log.Warn("stopped with lines not acknowledged; they are shipped again at the next start", "lines", len(s.batch))
	}
}

func (s *Shipper) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
