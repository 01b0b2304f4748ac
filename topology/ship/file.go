package ship

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fingerprintBytes is how much of a file's start identifies it. Every
// request-log line starts with a millisecond timestamp and is longer than
// this, so two files with the same first bytes are the same file.
const fingerprintBytes = 1024

// FileID is a file's identity on its file system.
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func (id FileID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// Fingerprint is the SHA-256 of a file's first Len bytes. It tells a file
// apart from another that got its inode after it was deleted, and finds a
// file again after it was gzipped or copied.
type Fingerprint struct {
	Len int    `json:"fingerprint_len"`
	Sum string `json:"fingerprint"`
}

// fingerprintOf reads up to n bytes from r.
func fingerprintOf(r io.Reader, n int) (Fingerprint, error) {
	h := sha256.New()
	got, err := io.Copy(h, io.LimitReader(r, int64(n)))
	if err != nil {
		return Fingerprint{}, err
	}
	return Fingerprint{Len: int(got), Sum: hex.EncodeToString(h.Sum(nil))}, nil
}

// matches reports whether content (a file's start) has fp's first bytes.
// An empty fingerprint matches nothing: it cannot tell files apart.
func (fp Fingerprint) matches(content io.Reader) bool {
	if fp.Len == 0 {
		return false
	}
	got, err := fingerprintOf(content, fp.Len)
	return err == nil && got == fp
}

// candidate is a file that may hold request-log lines: the live file or a
// rotated sibling.
type candidate struct {
	path  string
	id    FileID
	mtime time.Time
	size  int64
	gz    bool
	live  bool
}

// open returns a reader of the candidate's content from its start
// (decompressed for .gz) and the file to close.
func (c candidate) open() (io.Reader, *os.File, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, nil, err
	}
	if !c.gz {
		return f, f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", c.path, err)
	}
	return zr, f, nil
}

// matches reports whether the candidate starts with fp's bytes.
func (c candidate) matches(fp Fingerprint) bool {
	if fp.Len == 0 || (!c.gz && c.size < int64(fp.Len)) {
		return false
	}
	r, f, err := c.open()
	if err != nil {
		return false
	}
	defer f.Close()
	return fp.matches(r)
}

// isRotatedName reports whether name is a rotated sibling of the live
// file base: log4j names them base.YYYY-MM-DD-HH, log4j2 base.1,
// base-2024-10-25-09-1.gz and the like. Only gzip of the compressions
// log4j2 offers is read.
func isRotatedName(base, name string) bool {
	if name == base || !strings.HasPrefix(name, base) {
		return false
	}
	for _, ext := range []string{".zip", ".bz2", ".xz", ".zst", ".deflate", ".pack200", ".tmp", ".swp"} {
		if strings.HasSuffix(name, ext) {
			return false
		}
	}
	return true
}

// candidates lists the live file and its rotated siblings, oldest first
// by modification time, the live file last. Files in exclude (the
// checkpoint and its temp files) are left out.
func candidates(live string, exclude func(path string) bool) ([]candidate, error) {
	dir, base := filepath.Dir(live), filepath.Base(live)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, e := range entries {
		name := e.Name()
		if name != base && !isRotatedName(base, name) {
			continue
		}
		path := filepath.Join(dir, name)
		if exclude(path) {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // rotated away or deleted while listing
		}
		out = append(out, candidate{
			path: path, id: fileID(fi), mtime: fi.ModTime(), size: fi.Size(),
			gz: strings.HasSuffix(name, ".gz"), live: name == base,
		})
	}
	slices.SortStableFunc(out, func(a, b candidate) int {
		switch {
		case a.live != b.live:
			if a.live {
				return 1
			}
			return -1
		case !a.mtime.Equal(b.mtime):
			return a.mtime.Compare(b.mtime)
		}
		return strings.Compare(a.path, b.path)
	})
	return out, nil
}

// statLive stats the live path; ok is false if it does not exist.
func statLive(path string) (FileID, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return FileID{}, false, nil
	}
	if err != nil {
		return FileID{}, false, err
	}
	return fileID(fi), true, nil
}
