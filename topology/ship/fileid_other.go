//go:build !unix

package ship

import "os"

// fileID is unknown off Unix: rotation is then seen only by fingerprint.
func fileID(os.FileInfo) FileID { return FileID{} }
