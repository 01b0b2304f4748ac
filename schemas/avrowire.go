package schemas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Avro binary encoding (Avro spec 1.11, "Binary Encoding"), written by hand
// for the two records on the hot path: the loop topic carries a
// RequestLog per request, and the dedup table a ConnState. goavro's generic
// native-map path costs ~5–8 µs per encode+decode of each; this costs well
// under 1 µs (BENCHMARKS.md). avro_test.go checks byte for byte against
// goavro and the .avsc files, so the wire format cannot drift.

// avroWriter appends Avro binary values.
type avroWriter struct{ b []byte }

func (w *avroWriter) long(n int64) { w.b = binary.AppendVarint(w.b, n) } // zigzag varint
func (w *avroWriter) int(n int32)  { w.long(int64(n)) }
func (w *avroWriter) boolean(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *avroWriter) double(f float64) {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f))
}
func (w *avroWriter) str(s string) { w.long(int64(len(s))); w.b = append(w.b, s...) }
func (w *avroWriter) raw(s []byte) { w.long(int64(len(s))); w.b = append(w.b, s...) }

// array writes one block of n items, then the end marker.
func (w *avroWriter) array(n int, item func(i int)) {
	if n > 0 {
		w.long(int64(n))
		for i := range n {
			item(i)
		}
	}
	w.long(0)
}

// avroReader reads Avro binary values; the first error sticks.
type avroReader struct {
	b   []byte
	err error
}

var errAvroShort = errors.New("avro: unexpected end of data")

func (r *avroReader) long() int64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errAvroShort
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *avroReader) int() int32 {
	n := r.long()
	if n < math.MinInt32 || n > math.MaxInt32 {
		r.fail(fmt.Errorf("avro: int %d out of range", n))
		return 0
	}
	return int32(n)
}

func (r *avroReader) boolean() bool {
	if r.err != nil || len(r.b) < 1 {
		r.fail(errAvroShort)
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	if v > 1 {
		r.fail(fmt.Errorf("avro: boolean byte %d", v))
	}
	return v == 1
}

func (r *avroReader) double() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(errAvroShort)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

func (r *avroReader) bytes() []byte {
	n := r.long()
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)) {
		r.fail(fmt.Errorf("avro: length %d exceeds the %d bytes left", n, len(r.b)))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *avroReader) str() string { return string(r.bytes()) }

// array reads blocks of items until the end marker. Every item takes at
// least one byte, so a count larger than the bytes left is corrupt data,
// refused before anything is allocated.
func (r *avroReader) array(item func()) {
	for r.err == nil {
		n := r.long()
		if n == 0 || r.err != nil {
			return
		}
		if n < 0 { // a block with its byte size; the size is not needed
			n = -n
			r.long()
		}
		if n > int64(len(r.b)) {
			r.fail(fmt.Errorf("avro: block of %d items in %d bytes", n, len(r.b)))
			return
		}
		for range n {
			item()
		}
	}
}

// union reads a ["null", T] union's branch: false for null.
func (r *avroReader) union() bool {
	switch b := r.long(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("avro: union branch %d", b))
		return false
	}
}

func (r *avroReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// more reports whether bytes remain: fields appended to a schema are
// read only when the writer knew them.
func (r *avroReader) more() bool { return r.err == nil && len(r.b) > 0 }

// done reports the first error, or trailing bytes: a value is one record.
func (r *avroReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("avro: %d trailing bytes after the record", len(r.b))
	}
	return r.err
}
