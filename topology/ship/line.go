package ship

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// ConnectionID returns the value of a request-log line's top-level
// "connection" field without parsing the JSON, or nil if it has none.
//
// Kafka writes the field after "request" and "response", so the last
// occurrence is the top-level one. No Kafka request or response has a
// field of that name, and a quote inside a JSON string is escaped, so the
// byte sequence cannot come from a string value. An escaped value (which
// real connection ids never have) is not unescaped: the line is shipped
// without a key instead.
func ConnectionID(line []byte) []byte {
	const field = `"connection":`
	i := bytes.LastIndex(line, []byte(field))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(line[i+len(field):], " \t")
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	rest = rest[1:]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return nil
	}
	return rest[:j]
}

// lineKind says what readLine found.
type lineKind int

const (
	lineOK      lineKind = iota
	lineEmpty            // blank; skipped
	lineTooLong          // over the limit; skipped, its bytes discarded
)

// source is one open log file read line by line from an offset. Its
// offsets count bytes of the (decompressed) content.
type source struct {
	path string
	f    *os.File
	r    io.Reader // f, or a gzip reader over it
	gz   bool
	id   FileID
	live bool // opened as the live file; it may have been rotated since
	// final is set once the file was rotated: it will not grow, so it is
	// drained to its end, unterminated last line included.
	final bool
	fp    Fingerprint

	maxLine  int
	buf      []byte
	start    int   // buf[start:] is not consumed yet
	bufOff   int64 // content offset of buf[0]
	skipping bool  // inside a line over maxLine; discarding until '\n'
	skipFrom int64 // where that line started
}

const readChunk = 64 << 10

// openSource opens c at offset (decompressing a .gz file and discarding
// offset bytes of it).
func openSource(c candidate, offset int64, maxLine int) (*source, error) {
	r, f, err := c.open()
	if err != nil {
		return nil, err
	}
	s := &source{path: c.path, f: f, r: r, gz: c.gz, id: c.id, live: c.live, maxLine: maxLine, bufOff: offset}
	if fi, err := f.Stat(); err == nil {
		s.id = fileID(fi) // the file opened, even if c.path changed since listing
	}
	if offset > 0 {
		if c.gz {
			n, err := io.CopyN(io.Discard, r, offset)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: skip to offset %d (got %d): %w", c.path, offset, n, err)
			}
		} else if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *source) Close() error { return s.f.Close() }

// offset is the content offset after the last consumed line.
func (s *source) offset() int64 { return s.bufOff + int64(s.start) }

// readLine returns the next complete line (without its line ending) and
// the offset after it. ok is false at the end of the data written so far;
// a partial last line stays buffered until its newline arrives, unless
// final is set (the file was rotated and will not grow): then the rest is
// returned as a line. The returned slice is valid until the next call.
func (s *source) readLine(final bool) (line []byte, end int64, kind lineKind, ok bool, err error) {
	for {
		pending := s.buf[s.start:]
		if i := bytes.IndexByte(pending, '\n'); i >= 0 {
			s.start += i + 1
			end = s.offset()
			if s.skipping {
				s.skipping = false
				return nil, end, lineTooLong, true, nil
			}
			line, kind = s.classify(pending[:i])
			return line, end, kind, true, nil
		}
		if s.skipping || len(pending) > s.maxLine+1 {
			// Over the limit without a newline (+1 for a '\r'): drop what is
			// buffered, keep dropping until the line ends.
			if !s.skipping {
				s.skipping, s.skipFrom = true, s.offset()
			}
			s.bufOff += int64(len(s.buf))
			s.buf, s.start = s.buf[:0], 0
		}
		n, rerr := s.fill()
		if n > 0 {
			continue
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, s.offset(), 0, false, rerr
		}
		if !final {
			return nil, s.offset(), 0, false, nil
		}
		// A rotated file's unterminated tail is all there will ever be.
		pending = s.buf[s.start:]
		if s.skipping {
			s.skipping = false
			s.bufOff += int64(len(s.buf))
			s.buf, s.start = s.buf[:0], 0
			return nil, s.offset(), lineTooLong, true, nil
		}
		if len(pending) == 0 {
			return nil, s.offset(), 0, false, nil
		}
		s.start = len(s.buf)
		line, kind = s.classify(pending)
		return line, s.offset(), kind, true, nil
	}
}

// classify trims a line's '\r' and says whether it is shipped.
func (s *source) classify(line []byte) ([]byte, lineKind) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	switch {
	case len(bytes.TrimSpace(line)) == 0:
		return nil, lineEmpty
	case len(line) > s.maxLine:
		return nil, lineTooLong
	}
	return line, lineOK
}

// fill reads one chunk, compacting the buffer first.
func (s *source) fill() (int, error) {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:])
		s.buf = s.buf[:n]
		s.bufOff += int64(s.start)
		s.start = 0
	}
	if cap(s.buf)-len(s.buf) < readChunk {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+readChunk)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf) : len(s.buf)+readChunk])
	s.buf = s.buf[:len(s.buf)+n]
	return n, err
}

// fingerprint returns the file's fingerprint over its first
// min(upTo, fingerprintBytes) bytes, reading them again from the start.
// Once it covers fingerprintBytes it is cached.
func (s *source) fingerprint(upTo int64) Fingerprint {
	n := int(min(upTo, fingerprintBytes))
	if s.fp.Len >= n {
		return s.fp
	}
	var r io.Reader = io.NewSectionReader(s.f, 0, int64(n))
	if s.gz {
		f, err := os.Open(s.path)
		if err != nil {
			return s.fp
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return s.fp
		}
		r = zr
	}
	if fp, err := fingerprintOf(r, n); err == nil && fp.Len == n {
		s.fp = fp
	}
	return s.fp
}
