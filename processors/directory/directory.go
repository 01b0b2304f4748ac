// Package directory keeps the principal directory: a group table from
// Kafka principal (User:alice) to the identity audit records show. It is
// fed by a compacted topic that `kaudit principals put` (or any producer)
// writes; a tombstone removes an entry.
package directory

import (
	"encoding/json"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// Outputs names the streams the group writes.
type Outputs struct {
	DeadLetter goka.Stream
}

// ReasonBadEntry marks a directory record that is not a valid identity.
const ReasonBadEntry = "bad-directory-entry"

// Parse decodes and validates one directory value.
func Parse(value []byte) (*schemas.Identity, error) {
	var id schemas.Identity
	if err := json.Unmarshal(value, &id); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	return &id, nil
}

// Update applies one directory record. The input is read as bytes, not
// through a codec, because people write this topic: a bad entry must be
// dead-lettered, not stop the processor.
func Update(out Outputs) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		value, _ := msg.([]byte)
		if value == nil {
			ctx.Delete()
			return
		}
		id, err := Parse(value)
		if err != nil {
			err = fmt.Errorf("principal %q: %w", ctx.Key(), err)
			ctx.Emit(out.DeadLetter, ctx.Key(), value, goka.WithCtxEmitHeaders(schemas.DeadLetterHeaders(ctx, ReasonBadEntry, err)))
			return
		}
		ctx.SetValue(id)
	}
}
