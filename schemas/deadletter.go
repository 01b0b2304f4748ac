package schemas

import (
	"strconv"

	"github.com/lovoo/goka"
)

// Dead-letter record headers. A dead-lettered record keeps its value as it
// came in; these say why and where from.
const (
	HeaderReason    = "kaudit-reason"
	HeaderError     = "kaudit-error"
	HeaderTopic     = "kaudit-source-topic"
	HeaderPartition = "kaudit-source-partition"
	HeaderOffset    = "kaudit-source-offset"
	// HeaderCluster, when a shipper sets it on a raw record, names the
	// cluster the line came from and overrides the configured one.
	HeaderCluster = "kaudit-cluster"
)

// DeadLetterHeaders are the headers of a dead-letter record for the input
// ctx is processing.
func DeadLetterHeaders(ctx goka.Context, reason string, err error) goka.Headers {
	return goka.Headers{
		HeaderReason:    []byte(reason),
		HeaderError:     []byte(err.Error()),
		HeaderTopic:     []byte(ctx.Topic()),
		HeaderPartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		HeaderOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
}
