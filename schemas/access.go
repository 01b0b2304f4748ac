package schemas

import (
	"fmt"
	"time"

	"github.com/lovoo/goka"
)

// Access counts one principal's requests on one resource.
type Access struct {
	Produce int64     `json:"produce"`
	Fetch   int64     `json:"fetch"`
	Admin   int64     `json:"admin"`
	Denied  int64     `json:"denied"`
	Bytes   int64     `json:"bytes"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// Add folds b into a.
func (a *Access) Add(b Access) {
	a.Produce += b.Produce
	a.Fetch += b.Fetch
	a.Admin += b.Admin
	a.Denied += b.Denied
	a.Bytes = addSize(a.Bytes, b.Bytes)
	if a.First.IsZero() || (!b.First.IsZero() && b.First.Before(a.First)) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
}

// Empty reports whether nothing was counted.
func (a Access) Empty() bool { return a.Produce == 0 && a.Fetch == 0 && a.Admin == 0 && a.Denied == 0 }

// BoundAccess keeps a map of access counts within max entries, folding the
// least recently seen entries into the overflow key, whose counts stay
// exact. Summaries are re-encoded on every delta, so their maps must stay
// bounded however many principals or resources appear.
func BoundAccess(m map[string]*Access, max int, overflow string) {
	for len(m) > max {
		// One pass, holding the oldest entry itself: looking it up again
		// per entry doubled the cost of every new key past the bound.
		oldest, oldestKey := (*Access)(nil), ""
		for k, a := range m {
			if k != overflow && (oldest == nil || a.Last.Before(oldest.Last)) {
				oldest, oldestKey = a, k
			}
		}
		if oldest == nil {
			return
		}
		o := m[overflow]
		if o == nil {
			o = &Access{}
			m[overflow] = o
		}
		o.Add(*oldest)
		delete(m, oldestKey)
	}
}

// AddAccess adds a to m[key] and keeps m within max entries (BoundAccess).
func AddAccess(m map[string]*Access, key string, a Access, max int, overflow string) {
	cur := m[key]
	if cur == nil {
		cur = &Access{}
		m[key] = cur
	}
	cur.Add(a)
	BoundAccess(m, max, overflow)
}

// TopicAccess is a connection's access to one topic: the running total and
// the part of it not yet reported to the topic and principal tables.
type TopicAccess struct {
	Topic   string `json:"topic"`
	Total   Access `json:"total"`
	Pending Access `json:"-"`
}

// AccessDelta is new access by one principal to one resource, from one
// connection: the dedup group makes them for Produce/Fetch, batched, and
// the audit callback for every other audited method. They are folded into
// partial summaries (processors/access) before they go to the tables.
type AccessDelta struct {
	Cluster      string `json:"cluster"`
	ResourceType string `json:"resourceType"` // TOPIC, GROUP, KAFKA_CLUSTER, ...
	Resource     string `json:"resource"`
	Principal    string `json:"principal"`
	Connection   string `json:"connection"`
	ClientID     string `json:"clientId"`
	Access       Access `json:"access"`
	// Denial details, set when the delta reports a denied request.
	Method    string `json:"method"`
	ErrorType string `json:"errorType"`
}

// Denial is one denied request, as the principal table lists them.
type Denial struct {
	Time         time.Time `json:"time"`
	Method       string    `json:"method"`
	ResourceType string    `json:"resourceType"`
	Resource     string    `json:"resource"`
	Connection   string    `json:"connection"`
	ErrorType    string    `json:"errorType"`
}

// TopicSummary is the topics-table value: who produced to and fetched
// from a topic, and who was denied there.
type TopicSummary struct {
	Cluster    string             `json:"cluster"`
	Topic      string             `json:"topic"`
	Total      Access             `json:"total"`
	Principals map[string]*Access `json:"principals"`
}

// SeenConnection is one connection of a principal.
type SeenConnection struct {
	Connection string    `json:"connection"`
	ClientID   string    `json:"clientId"`
	ClientIP   string    `json:"clientIp"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// PrincipalSummary is the principals-table value: what one principal
// touched, from which connections, and where it was denied.
type PrincipalSummary struct {
	Principal   string             `json:"principal"`
	Total       Access             `json:"total"`
	Resources   map[string]*Access `json:"resources"` // "TOPIC:orders", "GROUP:billing", ...
	Connections []SeenConnection   `json:"connections"`
	Denials     []Denial           `json:"denials"`
}

// TopicSummaryKey and PrincipalKey are the keys of the two tables.
func TopicSummaryKey(cluster, topic string) string { return cluster + "|" + topic }

// The summaries' wire format is access.avsc. The access streams carry
// partial summaries and each one rewrites a whole summary (up to 256 map
// entries and 200 list items), so the codecs are written by hand like the
// hot-path ones; avro_test.go checks them against goavro.

func (w *avroWriter) access(a *Access) {
	w.long(a.Produce)
	w.long(a.Fetch)
	w.long(a.Admin)
	w.long(a.Denied)
	w.long(a.Bytes)
	w.long(msOrZero(a.First))
	w.long(msOrZero(a.Last))
}

func (r *avroReader) access() Access {
	return Access{Produce: r.long(), Fetch: r.long(), Admin: r.long(), Denied: r.long(), Bytes: r.long(),
		First: timeOrZero(r.long()), Last: timeOrZero(r.long())}
}

// accessMap writes an Avro map of Access in one block, in map order.
func (w *avroWriter) accessMap(m map[string]*Access) {
	if len(m) > 0 {
		w.long(int64(len(m)))
		for k, a := range m {
			w.str(k)
			if a == nil {
				a = &Access{}
			}
			w.access(a)
		}
	}
	w.long(0)
}

// accessMap reads an Avro map (its blocks are read like an array's).
func (r *avroReader) accessMap() map[string]*Access {
	m := map[string]*Access{}
	r.array(func() {
		k := r.str()
		a := r.access()
		m[k] = &a
	})
	return m
}

func (w *avroWriter) topicSummary(t *TopicSummary) {
	w.str(t.Cluster)
	w.str(t.Topic)
	w.access(&t.Total)
	w.accessMap(t.Principals)
}

func (r *avroReader) topicSummary() *TopicSummary {
	t := &TopicSummary{Cluster: r.str(), Topic: r.str()}
	t.Total = r.access()
	t.Principals = r.accessMap()
	return t
}

func (w *avroWriter) connections(cs []SeenConnection) {
	w.array(len(cs), func(i int) {
		c := &cs[i]
		w.str(c.Connection)
		w.str(c.ClientID)
		w.str(c.ClientIP)
		w.long(msOrZero(c.First))
		w.long(msOrZero(c.Last))
	})
}

func (r *avroReader) connections() []SeenConnection {
	cs := []SeenConnection{}
	r.array(func() {
		cs = append(cs, SeenConnection{Connection: r.str(), ClientID: r.str(), ClientIP: r.str(),
			First: timeOrZero(r.long()), Last: timeOrZero(r.long())})
	})
	return cs
}

func (w *avroWriter) denials(ds []Denial) {
	w.array(len(ds), func(i int) {
		d := &ds[i]
		w.long(msOrZero(d.Time))
		for _, s := range []string{d.Method, d.ResourceType, d.Resource, d.Connection, d.ErrorType} {
			w.str(s)
		}
	})
}

func (r *avroReader) denials() []Denial {
	ds := []Denial{}
	r.array(func() {
		ds = append(ds, Denial{Time: timeOrZero(r.long()), Method: r.str(), ResourceType: r.str(),
			Resource: r.str(), Connection: r.str(), ErrorType: r.str()})
	})
	return ds
}

func (w *avroWriter) principalSummary(p *PrincipalSummary) {
	w.str(p.Principal)
	w.access(&p.Total)
	w.accessMap(p.Resources)
	w.connections(p.Connections)
	w.denials(p.Denials)
}

// principalSummary reads a summary; empty lists and maps come back empty,
// not nil, so the query API shows them as [] and {}.
func (r *avroReader) principalSummary() *PrincipalSummary {
	p := &PrincipalSummary{Principal: r.str()}
	p.Total = r.access()
	p.Resources = r.accessMap()
	p.Connections = r.connections()
	p.Denials = r.denials()
	return p
}

// accessCodec is a goka.Codec for *T over a hand-written Avro writer and
// reader.
type accessCodec[T any] struct {
	write func(*avroWriter, *T)
	read  func(*avroReader) *T
}

func (c accessCodec[T]) encode(value any) ([]byte, error) {
	v, ok := value.(*T)
	if !ok || v == nil {
		return nil, fmt.Errorf("cannot encode %T as %T", value, new(T))
	}
	w := avroWriter{b: make([]byte, 0, 256)}
	c.write(&w, v)
	return w.b, nil
}

func (c accessCodec[T]) decode(data []byte) (any, error) {
	r := avroReader{b: data}
	v := c.read(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

var (
	topicSummaryWire     = accessCodec[TopicSummary]{(*avroWriter).topicSummary, (*avroReader).topicSummary}
	principalSummaryWire = accessCodec[PrincipalSummary]{(*avroWriter).principalSummary, (*avroReader).principalSummary}
)

// TopicSummaryCodec encodes *TopicSummary as Avro binary.
type TopicSummaryCodec struct{}

// PrincipalSummaryCodec encodes *PrincipalSummary as Avro binary.
type PrincipalSummaryCodec struct{}

var (
	_ goka.Codec = (*TopicSummaryCodec)(nil)
	_ goka.Codec = (*PrincipalSummaryCodec)(nil)
)

// Encode implements goka.Codec.
func (*TopicSummaryCodec) Encode(v any) ([]byte, error) { return topicSummaryWire.encode(v) }

// Decode implements goka.Codec.
func (*TopicSummaryCodec) Decode(b []byte) (any, error) { return topicSummaryWire.decode(b) }

// Encode implements goka.Codec.
func (*PrincipalSummaryCodec) Encode(v any) ([]byte, error) { return principalSummaryWire.encode(v) }

// Decode implements goka.Codec.
func (*PrincipalSummaryCodec) Decode(b []byte) (any, error) { return principalSummaryWire.decode(b) }
