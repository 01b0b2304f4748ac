// Package dedup collapses the request log per connection: it re-keys raw
// lines by connection and keeps, in the group table, the first Produce and
// the first Fetch of each connection. Later ones are counted and dropped;
// every other request passes.
package dedup

import (
	"errors"
	"log/slog"
	"time"

	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/processors/principals"
	"github.com/kaudit/kaudit/processors/topics"
	"github.com/kaudit/kaudit/schemas"
)

// Outputs names the streams this group writes; topology supplies them.
type Outputs struct {
	// Rekeyed carries requests, batches and expiry markers to the table
	// owners, keyed by connection.
	Rekeyed    goka.Stream
	DeadLetter goka.Stream // raw lines that could not be parsed
	TopicIDs   goka.Stream // topic id -> name pairs seen in responses, keyed by cluster|id
	// AccessByTopic and AccessByPrincipal carry partial summaries to the
	// topic and principal tables, keyed by cluster|topic and by principal.
	AccessByTopic     goka.Stream
	AccessByPrincipal goka.Stream
}

// Observer is told what happened to each line; topology feeds metrics
// from it. A nil func is skipped.
type Observer struct {
	Parsed     func()
	Skipped    func(reason string)
	DeadLetter func(reason string)
	Suppressed func(api string)
	// Batched is told of the suppressed requests counted on the input
	// side (Batcher) rather than by the table owner.
	Batched func(api string)
	// BatchApplied is told how many batched requests a batch record
	// brought to the table: Batched minus these are still on their way.
	BatchApplied func(n int64)
	// BatchDropped is told how many batched requests a batch record
	// brought that the table had no state for (see applyBatch).
	BatchDropped func(n int64)
	// OutOfOrder is told of a request dropped because it overtook one it
	// follows on the loop (Rules.Overtakes); it comes again.
	OutOfOrder func()
	Kept       func(api string)
	NotAudited func(api string)
	Evicted    func()
	// Seen gets the log time of every request: the stream time that
	// idleness is judged by.
	Seen func(time.Time)
}

// Settings are the parse settings the callbacks need.
type Settings struct {
	Rules Rules
	// MaxLineBytes bounds an input line; 0 means schemas.MaxLineBytes.
	MaxLineBytes int
	Cluster      string
	Location     *time.Location
	Log          *slog.Logger
	Observe      Observer
	// Resolve maps topic ids to names for access reports; nil keeps ids.
	Resolve func(ctx goka.Context) func(cluster, id string) (string, bool)
	// Batcher, if set, counts repeat Produce/Fetch on the input side.
	Batcher *Batcher
	// Access, if set, takes the access deltas (topology coalesces and
	// sends them, processors/access); without it each delta is emitted
	// with the request that caused it.
	Access func(*schemas.AccessDelta)
	// Audited says whether a method is audited at all. Requests that are
	// not are dropped here, before the loop, so chatty APIs (Metadata,
	// Heartbeat, OffsetCommit) cost one parse and nothing more. Nil audits
	// Confluent Cloud's 13 methods.
	Audited func(schemas.API) bool
	// Keep takes each request that becomes audit records, in the callback
	// that decides so: the re-key's for requests that always pass, the
	// owner's for first Produce/Fetch requests and denials. topology audits
	// it there (enrich.Process), with no hop in between; the group graphs
	// declare what it emits and looks up.
	Keep func(ctx goka.Context, r *schemas.RequestLog)
}

func (s Settings) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s Settings) access(ctx goka.Context, out Outputs, d *schemas.AccessDelta) {
	if s.Access != nil {
		s.Access(d)
		return
	}
	EmitAccess(ctx, out, d)
}

// kept counts r as kept and hands it to Keep, where Rekey and Collapse
// decide to keep it: kaudit_kept_total must match what is audited (the
// bench's caught-up check compares the two).
func (s Settings) kept(ctx goka.Context, r *schemas.RequestLog) {
	call1(s.Observe.Kept, r.APIName)
	s.Keep(ctx, r)
}

func (s Settings) audited(api schemas.API) bool {
	if s.Audited == nil {
		return api.Cloud
	}
	return s.Audited(api)
}

// Rekey parses a raw line and sends it on keyed by connection, so that
// every request of one connection meets the same table partition whatever
// key the shipper used. Bad lines go to the dead-letter stream. "The loop"
// below and in Batcher is that hop: the rekeyed stream, read by Collapse.
func Rekey(out Outputs, s Settings) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		raw, _ := msg.([]byte) // codec.Bytes always yields []byte
		cluster := s.Cluster
		if h := ctx.Headers()[schemas.HeaderCluster]; len(h) > 0 {
			cluster = string(h)
		}
		r, err := schemas.ParseLine(raw, schemas.ParseOptions{
			Cluster: cluster, Location: s.Location, Fallback: ctx.Timestamp(), MaxLineBytes: s.MaxLineBytes,
		})
		if errors.Is(err, schemas.ErrForwarded) {
			call1(s.Observe.Skipped, "forwarded")
			return
		}
		if err != nil {
			reason := schemas.ReasonBadJSON
			var pe *schemas.ParseError
			if errors.As(err, &pe) {
				reason = pe.Reason
			}
			// Keyed as it came in, value untouched: the line can be replayed.
			ctx.Emit(out.DeadLetter, ctx.Key(), raw, goka.WithCtxEmitHeaders(schemas.DeadLetterHeaders(ctx, reason, err)))
			call1(s.Observe.DeadLetter, reason)
			return
		}
		r.SourcePartition, r.SourceOffset = ctx.Partition(), ctx.Offset()
		call0(s.Observe.Parsed)
		// Topic ids are learned from every response that names them, audited
		// or not: Metadata is where consumers learn ids, and it is not audited.
		ids, err := schemas.TopicIDs(r)
		if err != nil {
			s.log().Debug("topic ids not readable", "api", r.APIName, "conn_id", r.Connection, "err", err)
		}
		for i := range ids {
			ctx.Emit(out.TopicIDs, schemas.TopicKey(ids[i].Cluster, ids[i].ID), &ids[i])
		}
		if !s.audited(r.API()) {
			call1(s.Observe.NotAudited, r.APIName)
			return
		}
		key := schemas.ConnKey(r.Cluster, r.Connection)
		to := s.Batcher.rekey(r, key)
		if to.batch != nil {
			ctx.Emit(out.Rekeyed, key, to.batch)
		}
		if to.kept != nil {
			s.kept(ctx, to.kept)
		}
		if to.loop != nil {
			ctx.Emit(out.Rekeyed, key, to.loop)
			s.Batcher.Looped(to.loop, key)
		}
		if to.absorbed && to.kept == nil {
			call1(s.Observe.Suppressed, r.APIName)
			call1(s.Observe.Batched, r.APIName)
		}
	}
}

// Collapse runs per connection: it updates the connection's state and
// forwards the request unless it is a repeat Produce or Fetch.
func Collapse(out Outputs, s Settings) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		r, _ := msg.(*schemas.RequestLog) // the loop codec always yields *RequestLog
		var st *schemas.ConnState
		if v := ctx.Value(); v != nil {
			st, _ = v.(*schemas.ConnState)
		}
		if r.APIName == schemas.ExpireAPI {
			// The sweeper saw the connection idle; evict it if it still is,
			// reporting what access it had not reported yet.
			if st != nil && s.Rules.Expired(st, r.Time) {
				for _, d := range Flush(st, r.Time, "", "") {
					s.access(ctx, out, &d)
				}
				ctx.Delete()
				call0(s.Observe.Evicted)
			}
			return
		}
		if s.Observe.Seen != nil {
			s.Observe.Seen(r.Time)
		}
		if r.APIName == schemas.BatchAPI {
			if st = s.Rules.applyBatch(st, r); st == nil {
				callN(s.Observe.BatchDropped, r.BatchProduce+r.BatchFetch)
				return
			}
			callN(s.Observe.BatchApplied, r.BatchProduce+r.BatchFetch)
			if st.LastReport.IsZero() || r.Time.Sub(st.LastReport) >= reportEvery || pendingRequests(st) >= reportAfter {
				for _, d := range Flush(st, r.Time, "", "") {
					s.access(ctx, out, &d)
				}
			}
			ctx.SetValue(st)
			return
		}
		if s.Rules.Overtakes(st, r) {
			s.log().Info("request overtook one it follows on the loop; dropped until it comes again",
				"conn_id", r.Connection, "api", r.APIName, "correlation_id", r.CorrelationID,
				"source_partition", r.SourcePartition, "source_offset", r.SourceOffset)
			call0(s.Observe.OutOfOrder)
			return
		}
		st, keep := s.Rules.Decide(st, r)
		applied(st, r)
		var resolve func(cluster, id string) (string, bool)
		if s.Resolve != nil {
			resolve = s.Resolve(ctx)
		}
		for _, d := range Track(st, r, resolve) {
			s.access(ctx, out, &d)
		}
		ctx.SetValue(st)
		if !keep {
			call1(s.Observe.Suppressed, r.APIName)
			return
		}
		if r.Passed {
			return // Rekey sent it on
		}
		s.kept(ctx, r)
	}
}

// stateOnly is the loop record of a request that Rekey passed: what the
// owner's state takes from it (Decide, applied), without the bodies.
func stateOnly(r *schemas.RequestLog) *schemas.RequestLog {
	c := *r
	c.Request, c.Response, c.Passed = nil, nil, true
	return &c
}

// Rules tune the dedup rule.
type Rules struct {
	// TTL evicts a connection idle this long (log time) and makes a
	// request after such a gap start a new incarnation. Kafka closes idle
	// connections after connections.max.idle.ms (10 min by default), so
	// an id idle for longer belongs to a closed connection.
	TTL time.Duration
}

// DefaultTTL is the default connection TTL: three times Kafka's default
// connections.max.idle.ms.
const DefaultTTL = 30 * time.Minute

// reorderSlack is how far correlation ids may go backwards before a
// request counts as a new connection: lines of one connection shipped
// over several partitions arrive slightly out of order.
const reorderSlack = 10000

// Decide applies the default Rules.
func Decide(st *schemas.ConnState, r *schemas.RequestLog) (*schemas.ConnState, bool) {
	return Rules{TTL: DefaultTTL}.Decide(st, r)
}

// Decide is the dedup rule. It returns the connection's new state and
// whether r is audited: a Produce or Fetch is audited when it is the first
// one on the connection that names a topic; any other request always is.
// A replay of the line that was audited first is audited again, so a crash
// between the table write and the emit cannot lose that record. A request
// that looks like a new connection reusing the id (after a broker restart
// or past the TTL) starts a new state.
func (ru Rules) Decide(st *schemas.ConnState, r *schemas.RequestLog) (*schemas.ConnState, bool) {
	if st != nil && !replaysFirst(st, r) && ru.newIncarnation(st, r) {
		st = nil
	}
	if st == nil {
		st = &schemas.ConnState{
			Cluster:    r.Cluster,
			Connection: r.Connection,
			FirstSeen:  r.Time,
			Epoch:      r.Time,
		}
	}
	st.MaxCorrelationID = max(st.MaxCorrelationID, r.CorrelationID)
	identify(st, r)
	setIfAny(&st.ClientAddress, schemas.ClientIP(r.Connection))
	// Lines of one connection can arrive out of order across raw partitions.
	if r.Time.After(st.LastSeen) {
		st.LastSeen = r.Time
	}
	if r.Time.Before(st.FirstSeen) {
		st.FirstSeen = r.Time
	}
	st.Requests++

	var first **schemas.FirstRequest
	switch r.APIKey {
	case schemas.APIProduce:
		first = &st.FirstProduce
	case schemas.APIFetch:
		first = &st.FirstFetch
	default:
		return st, true
	}
	if *first != nil {
		if replaysFirst(st, r) {
			return st, true // replay of the audited line
		}
		if r.APIKey == schemas.APIProduce {
			st.SuppressedProduce++
		} else {
			st.SuppressedFetch++
		}
		st.SuppressedBytes += r.RecordBytes
		return st, false
	}
	if len(r.Topics) == 0 {
		// Incremental fetch sessions send empty topic lists: nothing to audit
		// yet, and no reason to spend the connection's first record on it.
		return st, false
	}
	*first = &schemas.FirstRequest{
		Time:            r.Time,
		CorrelationID:   r.CorrelationID,
		Topics:          r.Topics,
		SourcePartition: r.SourcePartition,
		SourceOffset:    r.SourceOffset,
	}
	return st, true
}

// Overtakes reports whether r reached the loop ahead of a request it
// follows: its sender chained it (Batcher.Chain) to a request that st has
// not applied, nor any later one from the same source partition. That
// request's loop write failed; the sender's rebuilt processor sends it and
// r again, in order. Without a chain, or with st's latest looped request
// read on another source partition, there is nothing to judge by and r is
// taken.
//
// A later request applied counts as the predecessor: after a rebalance
// the lines since the last commit are read again, and the new reading may
// absorb a repeat that the first one looped (it knows more by then). Its
// chain then skips that request, which the owner has applied, and must
// not be held to it: nothing would send r again.
func (ru Rules) Overtakes(st *schemas.ConnState, r *schemas.RequestLog) bool {
	if r.LoopPrev == 0 {
		return false
	}
	if st == nil {
		return true
	}
	if st.LoopedOffset == 0 || st.LoopedPartition != r.SourcePartition {
		return false
	}
	return st.LoopedOffset < r.LoopPrev
}

// applied makes r, a looped request just decided, the latest that st
// holds, unless it is the replay of an earlier one.
func applied(st *schemas.ConnState, r *schemas.RequestLog) {
	if r.SourcePartition != st.LoopedPartition || r.SourceOffset+1 > st.LoopedOffset {
		st.LoopedPartition, st.LoopedOffset = r.SourcePartition, r.SourceOffset+1
	}
}

// EmitAccess sends one access delta to the topic and principal tables,
// as partial summaries. Only topic access goes to the topic table.
func EmitAccess(ctx goka.Context, out Outputs, d *schemas.AccessDelta) {
	if d.ResourceType == "TOPIC" {
		ctx.Emit(out.AccessByTopic, schemas.TopicSummaryKey(d.Cluster, d.Resource), topics.Fold(nil, d))
	}
	ctx.Emit(out.AccessByPrincipal, d.Principal, principals.Fold(nil, d))
}

// replaysFirst reports whether r is the very line whose Produce or Fetch
// record the state already holds.
func replaysFirst(st *schemas.ConnState, r *schemas.RequestLog) bool {
	for _, f := range []*schemas.FirstRequest{st.FirstProduce, st.FirstFetch} {
		if f != nil && f.SourcePartition == r.SourcePartition && f.SourceOffset == r.SourceOffset {
			return true
		}
	}
	return false
}

// newIncarnation reports whether r comes from a different connection that
// reuses st's id: after more than the TTL of silence, or with a
// correlation id far below the highest seen (a broker restart resets
// connection indexes; the new client numbers its requests anew).
func (ru Rules) newIncarnation(st *schemas.ConnState, r *schemas.RequestLog) bool {
	return ru.reused(st.LastSeen, st.MaxCorrelationID, r)
}

// reused is newIncarnation for a connection last seen at lastSeen with
// correlation ids up to maxCorrelation.
func (ru Rules) reused(lastSeen time.Time, maxCorrelation int32, r *schemas.RequestLog) bool {
	if ru.TTL > 0 && r.Time.Sub(lastSeen) > ru.TTL {
		return true
	}
	return int64(r.CorrelationID)+reorderSlack < int64(maxCorrelation)
}

// Expired reports whether a connection has been idle for the TTL at the
// given stream time.
func (ru Rules) Expired(st *schemas.ConnState, now time.Time) bool {
	return ru.TTL > 0 && now.Sub(st.LastSeen) > ru.TTL
}

// ExpireMarker is the loop message that asks a connection's partition to
// evict it if it is still idle at stream time now.
func ExpireMarker(cluster, connection string, now time.Time) *schemas.RequestLog {
	return &schemas.RequestLog{Cluster: cluster, Connection: connection, APIKey: -1, APIName: schemas.ExpireAPI, Time: now}
}

// identify takes a request's identity fields into the state, keeping the
// latest non-empty value: a connection authenticates once, and a request
// without a client id (header v0) must not erase the one an earlier
// request gave. Batch records carry the same fields.
func identify(st *schemas.ConnState, r *schemas.RequestLog) {
	setIfAny(&st.Principal, r.Principal)
	setIfAny(&st.ClientID, r.ClientID)
	setIfAny(&st.Listener, r.Listener)
	setIfAny(&st.SecurityProtocol, r.SecurityProtocol)
}

func setIfAny(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func call0(f func()) {
	if f != nil {
		f()
	}
}

func callN(f func(int64), n int64) {
	if f != nil {
		f(n)
	}
}

func call1(f func(string), s string) {
	if f != nil {
		f(s)
	}
}
