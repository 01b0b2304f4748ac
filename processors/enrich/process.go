package enrich

import (
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// Outputs names the streams the audit callback writes besides the
// routed destinations.
type Outputs struct {
	DeadLetter goka.Stream
}

// RouteFunc picks the destinations of one record; none discards it.
type RouteFunc func(schemas.RouteInfo) []schemas.Target

// Settings configure the audit callback.
type Settings struct {
	Cluster Cluster
	// Lookups gives the lookups for one message; they may read tables
	// through ctx.
	Lookups func(ctx goka.Context) Lookups
	Route   RouteFunc
	Log     *slog.Logger
	// Access reports access to the topic and principal tables; nil skips.
	// Produce and Fetch are counted by the dedup group, which sees every
	// request; the audit callback reports the other methods.
	Access func(ctx goka.Context, d *schemas.AccessDelta)
	// Consumed, Emitted and Failed are metric hooks; nil is skipped.
	Consumed func(api string)
	Emitted  func(topic string)
	Failed   func(reason string)
}

// ReasonEnrich marks a kept request whose bodies could not be mapped.
const ReasonEnrich = "enrich"

// Process builds the audit records of one kept request and emits each,
// as structured JSON keyed by its subject CRN, to every routed stream. The
// subject key keeps one resource's records in order on one partition.
func Process(out Outputs, s Settings) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		r, _ := msg.(*schemas.RequestLog) // the input codec always yields *RequestLog
		if s.Consumed != nil {
			s.Consumed(r.APIName)
		}
		var l Lookups
		if s.Lookups != nil {
			l = s.Lookups(ctx)
		}
		recs, err := Enrich(r, s.Cluster, l)
		if err != nil {
			reason := ReasonEnrich
			if errors.Is(err, ErrTooManyResources) {
				reason = schemas.ReasonTooMany
			}
			s.Log.Warn("request not mappable, dead-lettered", "conn_id", r.Connection, "api", r.APIName, "reason", reason, "err", err)
			// JSON, not the internal Avro, so the dead letter reads on its own.
			raw, jerr := json.Marshal(r)
			if jerr != nil {
				ctx.Fail(jerr)
			}
			ctx.Emit(out.DeadLetter, ctx.Key(), raw, goka.WithCtxEmitHeaders(schemas.DeadLetterHeaders(ctx, reason, err)))
			if s.Failed != nil {
				s.Failed(reason)
			}
			return
		}
		for _, rec := range recs {
			if s.Access != nil && !r.ProduceOrFetch() {
				d := AdminAccess(r, rec.Route)
				s.Access(ctx, &d)
			}
			encoded := map[string]encodedRecord{} // one encoding per format
			for _, t := range s.Route(rec.Route) {
				e, ok := encoded[t.Encoding]
				if !ok {
					value, headers, err := Encode(rec.Event, t.Encoding)
					if err != nil {
						ctx.Fail(err) // a validated event always encodes
					}
					e = encodedRecord{value, headers}
					encoded[t.Encoding] = e
				}
				ctx.Emit(goka.Stream(t.Topic), RecordKey(rec.Route, t.Key, rec.Event.ID()), e.value, goka.WithCtxEmitHeaders(e.headers))
				if s.Emitted != nil {
					s.Emitted(t.Topic)
				}
			}
		}
	}
}

type encodedRecord struct {
	value   []byte
	headers goka.Headers
}

// AdminAccess is the access delta of one audited non-Produce/Fetch record.
func AdminAccess(r *schemas.RequestLog, info schemas.RouteInfo) schemas.AccessDelta {
	d := schemas.AccessDelta{
		Cluster: r.Cluster, ResourceType: info.ResourceType, Resource: info.ResourceName,
		Principal: r.Principal, Connection: r.Connection, ClientID: r.ClientID,
		Access: schemas.Access{Admin: 1, First: r.Time, Last: r.Time},
	}
	if info.Authz == schemas.AuthzDeny {
		d.Access.Denied = 1
		d.Method, d.ErrorType = info.Method, info.ErrorType
	}
	return d
}
