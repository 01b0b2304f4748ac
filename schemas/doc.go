// Package schemas holds kaudit's wire types and their codecs: the parsed
// broker request-log record, the per-connection dedup state, and the
// Confluent-shaped audit record. It imports no other kaudit package, so
// processors, topology and the CLI can all share it.
package schemas
