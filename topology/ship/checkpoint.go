package ship

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// checkpointVersion is written into every checkpoint; a file with another
// version is rejected rather than misread.
const checkpointVersion = 1

// Checkpoint says how far the shipper got: the file it was reading and the
// offset just after the last line Kafka acknowledged (or that was skipped).
// Lines before Offset are never shipped again; lines after it are, so a
// crash between an ack and the checkpoint write ships some lines twice
// (at-least-once), and a graceful stop ships none twice.
type Checkpoint struct {
	Version int `json:"version"`
	// File is the path the file had when the checkpoint was written; it is
	// informational, the file is found again by identity.
	File string `json:"file"`
	FileID
	Fingerprint
	// Gzip marks a file that was read decompressed; Offset then counts
	// decompressed bytes.
	Gzip   bool  `json:"gzip,omitempty"`
	Offset int64 `json:"offset"`
	// Updated is when the checkpoint was written. If the file is gone when
	// the shipper restarts, files modified after it are shipped.
	Updated time.Time `json:"updated"`
	// Done are the fingerprints of the files finished last, so that their
	// gzipped or renamed copies are not shipped again after a restart.
	Done []Fingerprint `json:"done,omitempty"`
}

// LoadCheckpoint reads a checkpoint file. A missing file is not an error:
// it returns nil, and the shipper starts at the live file's beginning.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s: version %d, want %d", path, c.Version, checkpointVersion)
	}
	if c.Offset < 0 || c.Len < 0 || c.Len > fingerprintBytes {
		return nil, fmt.Errorf("checkpoint %s: offset %d or fingerprint length %d out of range", path, c.Offset, c.Len)
	}
	return &c, nil
}

// SaveCheckpoint writes c atomically: to a temp file in the same directory,
// fsynced, renamed over path, then the directory fsynced, so a crash
// leaves either the old or the new checkpoint, never a torn one.
func SaveCheckpoint(path string, c Checkpoint) error {
	c.Version = checkpointVersion
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
