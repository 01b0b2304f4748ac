package dedup

import (
	"cmp"
	"container/heap"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/kaudit/kaudit/schemas"
)

// Batcher keeps repeat Produce/Fetch requests off the loop topic. Nearly
// every line is a connection's Nth Produce or Fetch, which changes only
// counters; sending each one to the connection's table partition would
// cost a Kafka round trip and a table write per line. When the local view
// of the dedup table already shows the connection's first request of that
// kind, or this instance has itself looped one (see sent), the input side
// counts the request here instead and a flusher sends one batch record per
// connection every BatchMax requests or within BatchAge. Requests of other
// methods, whose records Rekey sends on itself, change only counters,
// identity and times too: they join the batch once the owner holds their
// connection (known).
//
// What can go wrong is bounded: first requests, denials and anything that
// might be a new connection still go to the table owner, so audit records
// and their ids do not depend on batching. An open batch goes to the loop
// ahead of any request of its connection that goes there, so the owner
// checks TTL and id reuse against the same history as unbatched
// (TestBatcherMatchesOwner). A batch never makes a state: one that finds
// none is dropped, so a failure that lost the first request's loop write
// costs counts, not ids (TestBatcherAfterLostLoopWrites). Counters are
// exact after a graceful stop (batches are flushed); a crash loses at most
// Age of a connection's counts, as the raw offsets of batched lines are
// committed.
type Batcher struct {
	// Known returns the view's state of a connection, nil when unknown.
	Known func(key string) *schemas.ConnState
	Rules Rules
	// Age bounds how long a batch collects before it is sent; 0 means
	// BatchAge. Busy connections fill a batch in far less; the age is for
	// the many that send a request every few seconds. Each batch is sent
	// at a random point between Age/2 and Age after it opened (see due).
	Age time.Duration
	// MaxPending bounds the connections with an open batch (memory); 0
	// means DefaultMaxPending. Beyond it, repeats go to the table one by one.
	MaxPending int
	// Remember is how many connections sent holds; 0 means
	// DefaultRemember.
	Remember int

	mu sync.Mutex
	// session changes when this instance's share of the input may have
	// changed hands (a rebalance, a rebuild): loop chains (Chain) restart.
	session uint32
	pending map[string]*batch
	// opened is a min-heap of the open batches by due time: Due pops what
	// is due instead of scanning every open batch under the lock that
	// absorb needs. Entries of batches sent early (full) are skipped when
	// they come up.
	opened dueHeap
	// sent remembers the connections whose Produce or Fetch this instance
	// looped to the table owner, or absorbed. The owner reads its loop
	// partition in order, so by the time a later batch of the same
	// connection arrives it holds a first request of that kind (the looped
	// one or an earlier one; if a failure lost that write, the owner drops
	// the batch, see applyBatch). The view only learns it once the owner
	// has processed the loop record and its changelog has come back, which
	// at full speed is after most of a connection's repeats: without sent, ~3
	// in 4 repeats went round the loop in BenchmarkPipeline. A hit also
	// saves the view lookup, a LevelDB read. It is a fixed array of
	// sentWays-way sets, allocated on first use: no pointers for the GC to
	// scan and no map growth. A connection that finds its set full evicts
	// the one with the oldest log time; an evicted connection only costs
	// a view lookup again.
	sent []sentEntry
}

// sentWays is the associativity of sent.
const sentWays = 4

type sentEntry struct {
	key sentKey // zero: empty
	sentFirst
}

// sentKey is a 128-bit hash of a connection key: 16 B in place of a
// ~60 B string, so that sent can cover every connection of a busy
// cluster. Two of n keys collide with odds of ~n²/2¹²⁹ (~1e-27 for a million).
type sentKey struct{ a, b uint64 }

var sentSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func sentKeyOf(key string) sentKey {
	return sentKey{maphash.String(sentSeeds[0], key), maphash.String(sentSeeds[1], key) | 1} // never zero
}

// sentSet returns the set of sent where k belongs.
func (b *Batcher) sentSet(k sentKey) []sentEntry {
	sets := max(cmp.Or(b.Remember, DefaultRemember)/sentWays, 1)
	if b.sent == nil {
		b.sent = make([]sentEntry, sets*sentWays)
	}
	i := int(k.a%uint64(sets)) * sentWays
	return b.sent[i : i+sentWays]
}

// sentFirst is what the owner will hold of a connection once the loop
// records this instance sent are processed: enough to tell a repeat from a
// new connection reusing the id, and the head of its loop chain (Chain).
// 40 B: log times are in Unix nanoseconds.
type sentFirst struct {
	last      int64 // latest log time looped or absorbed
	chainTime int64 // log time of the chain's head
	// chainOffset is the source offset + 1 of the latest request looped
	// from here in session chainSession, read on chainPartition; 0: none.
	chainOffset    int64
	maxCorrelation int32
	chainPartition int32
	chainSession   uint32
	// held: a request that makes or keeps the owner's state was looped or
	// absorbed (touch alone, in Chain, comes before the loop write).
	held           bool
	produce, fetch bool
}

// openedBatch holds its batch's due time itself (wall clock, Unix ns):
// the heap compares it on every push and pop. Read through the batch
// pointer, a cache miss each time, the comparisons were 5.5% of kaudit's
// CPU while the bench's batches fell due; 1.9% like this.
type openedBatch struct {
	due int64
	key string
	b   *batch
}

// dueHeap orders open batches by due time, for container/heap.
type dueHeap []openedBatch

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(openedBatch)) }
func (h *dueHeap) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = openedBatch{} // let the batch go
	*h = old[:len(old)-1]
	return o
}

// batch is an open batch: what its record will carry, without the rest
// of a RequestLog (~200 B instead of ~460 B for each of up to MaxPending).
type batch struct {
	count int
	// identity, latest non-empty value first
	cluster, connection, principal, clientID, listener, securityProtocol string
	last                                                                 time.Time // log time
	maxCorrelation                                                       int32
	produce, fetch, other, bytes                                         int64
	topics                                                               []schemas.BatchAccess
}

// Batching bounds.
const (
	BatchMax = 1000
	// BatchAge is the default Age: batches are sent 20–40 s after they open.
	BatchAge          = 40 * time.Second
	DefaultMaxPending = 250_000
	// DefaultRemember costs 28 MiB (56 B entries). It need outlast only
	// the view's lag to batch nearly every repeat, but each connection it
	// misses costs a view lookup: in the 1M-line bench (200k connections,
	// each repeating every ~10 s), remembering 2×16k spent ~9% of kaudit's
	// CPU in LevelDB reads for those. With 256k slots, 4-way sets still
	// overflowed for ~11% of 200k connections (5% of CPU in view lookups);
	// with 512k, for ~2%.
	DefaultRemember = 1 << 19
)

// rekeyed is where Rekey sends a request, in this order: batch (an open
// batch of its connection) to the loop, kept to be audited here, loop to
// the loop. absorbed: r was counted in its connection's batch.
type rekeyed struct {
	batch, kept, loop *schemas.RequestLog
	absorbed          bool
}

// rekey decides where r goes. A Produce or Fetch goes to the owner, which
// judges it, unless it is absorbed as a repeat. Any other method always
// passes, whatever the table holds: it is audited here, not after a loop
// hop and the owner's queue. The owner still needs it for the connection's
// state: counted in the connection's batch when the owner holds that state
// already, else looped without its bodies. The caller reports what it
// loops with Looped.
func (b *Batcher) rekey(r *schemas.RequestLog, key string) rekeyed {
	var to rekeyed
	to.batch, to.absorbed = b.absorb(r, key)
	switch {
	case !r.ProduceOrFetch():
		to.kept = r
		if !to.absorbed {
			to.loop = stateOnly(r)
		}
	case !to.absorbed:
		to.loop = r
	}
	if to.loop != nil {
		to.loop.LoopPrev = b.Chain(to.loop, key)
	}
	return to
}

// absorb counts r into its connection's batch when the table already
// holds what r would change beyond counters, and reports whether it did:
// a repeat Produce or Fetch, or a request of another method (which Rekey
// passes on to be audited itself) on a connection the table holds.
// The record it returns, if any, goes to the loop at once, ahead of r if r
// is not absorbed: a batch that just filled up, or the connection's open
// batch when r must go to the owner itself, so that the owner sees this
// instance's requests of a connection in their order (a request's TTL and
// correlation checks compare it with the ones before). The caller reports
// an r it loops with Looped.
func (b *Batcher) absorb(r *schemas.RequestLog, key string) (*schemas.RequestLog, bool) {
	if b == nil || b.Known == nil {
		return nil, false
	}
	if r.ProduceOrFetch() && !batchable(r) {
		return b.take(key), false
	}
	k := sentKeyOf(key) // hashed once for the look and the record
	if !b.known(r, key, k) {
		return b.take(key), false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string]*batch{}
	}
	bt := b.pending[key]
	if bt == nil {
		if len(b.pending) >= cmp.Or(b.MaxPending, DefaultMaxPending) {
			return nil, false
		}
		// The connection id is the tail of its key (schemas.ConnKey): held
		// from there, it costs an open batch no string of its own.
		connection := r.Connection
		if strings.HasSuffix(key, connection) {
			connection = key[len(key)-len(connection):]
		}
		bt = &batch{cluster: r.Cluster, connection: connection}
		b.pending[key] = bt
		heap.Push(&b.opened, openedBatch{b.due(time.Now()), key, bt})
	}
	b.remember(k, r)
	bt.add(r)
	if bt.count < BatchMax {
		return nil, true
	}
	delete(b.pending, key)
	return bt.record(), true
}

// Looped tells the batcher that r, which it did not absorb, is on its way
// to the loop: once the owner has read it, it holds the connection's
// state, and a first request of r's kind if r is batchable. Rekey calls it
// after handing r to the producer, so that the requests this vouches for,
// and with them their batch, are handed to it after r even when lines of
// one connection are read on several partitions at once: the owner must
// not get a batch ahead of the request that made the state it follows
// (see applyBatch).
func (b *Batcher) Looped(r *schemas.RequestLog, key string) {
	if b == nil || b.Known == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remember(sentKeyOf(key), r)
}

// Chain returns the LoopPrev for r, a request about to be looped, and
// makes r the head of its connection's loop chain. Rekey calls it for
// every request it loops, before the loop write.
//
// The chain guards the order in which the owner applies a connection's
// requests. When a loop write fails (a broker restart), sarama's
// idempotent producer bumps its epoch and goes on writing the records
// behind it, which the processor had already handed over before it
// failed: they reach the owner ahead of the failed one, and the owner
// would take a later request for the connection's first (a wrong epoch,
// and with it wrong ids for all its records). The rebuilt processor
// sends the failed request and the later ones again, in order. So the
// owner drops a request when it has applied neither its predecessor nor
// a later one (Rules.Overtakes), and applies it when it comes again.
//
// The chain is per source partition and per session: a request read on
// another partition than the head, the first one after a rebalance or a
// rebuild (NewSession, Forget), and one after a connection the memory
// lost, start a new chain (0). So does one that comes TTL/2 of log time
// or more after the head, so that a connection the sweeper evicted in
// between is not taken for one whose predecessor was lost.
func (b *Batcher) Chain(r *schemas.RequestLog, key string) int64 {
	if b == nil || b.Known == nil {
		return 0
	}
	k := sentKeyOf(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.touch(k, r)
	t := r.Time.UnixNano()
	var prev int64
	if e.chainOffset != 0 && e.chainSession == b.session && e.chainPartition == r.SourcePartition &&
		(b.Rules.TTL <= 0 || t-e.chainTime < int64(b.Rules.TTL/2)) {
		prev = e.chainOffset
	}
	e.chainTime, e.chainOffset, e.chainPartition, e.chainSession = t, r.SourceOffset+1, r.SourcePartition, b.session
	return prev
}

// NewSession restarts every loop chain: the raw topic's partitions were
// assigned anew, so another instance may have looped requests in between.
func (b *Batcher) NewSession() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.session++
}

// batchable reports whether r may be absorbed: a Produce or Fetch that
// names topics and is not denied.
func batchable(r *schemas.RequestLog) bool {
	return len(r.Topics) > 0 && !r.Denied() && r.ProduceOrFetch()
}

// known reports whether the owner holds what r, a request on the
// connection with key and sent key k, would change beyond counters (or
// will hold it once it has read what is on the loop before r's batch): a
// first request of r's kind that r repeats, or for another method the
// connection's state.
func (b *Batcher) known(r *schemas.RequestLog, key string, k sentKey) bool {
	b.mu.Lock()
	sent := b.recalls(k, r)
	b.mu.Unlock()
	if sent {
		return true
	}
	st := b.Known(key) // not looped from here lately: ask the view
	if st == nil || replaysFirst(st, r) || b.Rules.newIncarnation(st, r) || r.Time.Before(st.Epoch) {
		return false
	}
	return covered(r, true, st.FirstProduce != nil, st.FirstFetch != nil)
}

// covered reports whether an owner that holds a connection's state
// (held) and its first Produce and Fetch (produce, fetch) holds what r
// would change beyond counters: a first of r's kind for a Produce or
// Fetch, the state for any other method.
func covered(r *schemas.RequestLog, held, produce, fetch bool) bool {
	switch r.APIKey {
	case schemas.APIProduce:
		return produce
	case schemas.APIFetch:
		return fetch
	}
	return held
}

// take removes and returns the connection's open batch, nil if none.
func (b *Batcher) take(key string) *schemas.RequestLog {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt := b.pending[key]
	if bt == nil {
		return nil
	}
	delete(b.pending, key) // its opened entry is skipped by Due
	return bt.record()
}

// lookup finds k in sent: its set, and the way that holds it (ok) or else
// the way to put it in, an empty one or the one with the oldest log time.
func (b *Batcher) lookup(k sentKey) (set []sentEntry, w int, ok bool) {
	set = b.sentSet(k)
	if w = slices.IndexFunc(set, func(e sentEntry) bool { return e.key == k }); w >= 0 {
		return set, w, true
	}
	w = 0 // an empty entry has the oldest log time of all: 0
	for i := range set {
		if set[i].last < set[w].last {
			w = i
		}
	}
	return set, w, false
}

// recalls reports whether sent holds what r would change beyond counters
// (covered) on r's connection, rather than on a new connection reusing
// the id.
func (b *Batcher) recalls(k sentKey, r *schemas.RequestLog) bool {
	set, w, ok := b.lookup(k)
	if !ok {
		return false
	}
	e := set[w].sentFirst
	return !b.Rules.reused(time.Unix(0, e.last), e.maxCorrelation, r) && covered(r, e.held, e.produce, e.fetch)
}

// remember records r, a request that was absorbed or looped, in sent:
// the owner holds its connection, and a first request of r's kind if r
// is batchable.
func (b *Batcher) remember(k sentKey, r *schemas.RequestLog) {
	e := b.touch(k, r)
	e.held = true
	if batchable(r) {
		e.produce = e.produce || r.APIKey == schemas.APIProduce
		e.fetch = e.fetch || r.APIKey == schemas.APIFetch
	}
}

// touch finds or makes k's entry in sent for r, a request of its
// connection, folds in r's log time and correlation id, and returns the
// entry for the caller to update further. A request that looks like a new
// connection reusing the id starts the entry over (no kinds, no chain).
func (b *Batcher) touch(k sentKey, r *schemas.RequestLog) *sentFirst {
	set, w, ok := b.lookup(k)
	if !ok || b.Rules.reused(time.Unix(0, set[w].last), set[w].maxCorrelation, r) {
		set[w] = sentEntry{key: k}
	}
	e := &set[w].sentFirst
	e.last = max(e.last, r.Time.UnixNano())
	e.maxCorrelation = max(e.maxCorrelation, r.CorrelationID)
	return e
}

// Forget drops what sent remembers. The processors call it when they are
// rebuilt: the loop records it stands for may not have been written.
func (b *Batcher) Forget() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.sent)
	b.session++
}

// add folds one request into the batch: a repeat Produce or Fetch, or a
// request of another method (counts, identity and times only).
func (bt *batch) add(r *schemas.RequestLog) {
	bt.count++
	shareIfNew(&bt.principal, r.Principal)
	setIfAny(&bt.clientID, r.ClientID) // often one per connection: nothing to share
	shareIfNew(&bt.listener, r.Listener)
	shareIfNew(&bt.securityProtocol, r.SecurityProtocol)
	if r.Time.After(bt.last) {
		bt.last = r.Time
	}
	bt.maxCorrelation = max(bt.maxCorrelation, r.CorrelationID)
	switch r.APIKey {
	case schemas.APIProduce:
		bt.produce++
	case schemas.APIFetch:
		bt.fetch++
	default:
		bt.other++
		return
	}
	bt.bytes += r.RecordBytes
	for i, t := range r.Topics {
		a := requestAccess(r, i) // never denied: denials are not batched
		found := false
		for j := range bt.topics {
			if bt.topics[j].Topic == t {
				bt.topics[j].Access.Add(a)
				found = true
				break
			}
		}
		if !found {
			bt.topics = append(bt.topics, schemas.BatchAccess{Topic: unique.Make(t).Value(), Access: a})
		}
	}
}

// shareIfNew is setIfAny for a batch's identity: a value that differs
// from the one held is replaced by its canonical copy (unique.Make). Open
// batches, up to MaxPending of them, would otherwise each keep the parse's
// own copies of the same few principals, listeners, protocols and topic
// names (BENCHMARKS.md, twenty-sixth session). A repeat's values are
// compared, not interned, so the usual case costs no lookup. Batches keep
// the string, not its handle, so the canonical copy may be dropped at a
// collection: batches opened between two collections share one copy, a
// few copies in all instead of one each.
func shareIfNew(dst *string, v string) {
	if v != "" && v != *dst {
		*dst = unique.Make(v).Value()
	}
}

// record is the batch record the loop carries to the owner.
func (bt *batch) record() *schemas.RequestLog {
	return &schemas.RequestLog{
		Cluster: bt.cluster, Connection: bt.connection, APIKey: -2, APIName: schemas.BatchAPI,
		Principal: bt.principal, ClientID: bt.clientID, Listener: bt.listener, SecurityProtocol: bt.securityProtocol,
		Time: bt.last, CorrelationID: bt.maxCorrelation, RecordBytes: bt.bytes,
		BatchProduce: bt.produce, BatchFetch: bt.fetch, BatchOther: bt.other, Batch: bt.topics,
	}
}

// due returns when a batch opened at now is sent: at a random point
// between half the age and the age. Batches opened in a burst (a
// restart, the start of a traffic spike: every connection's next repeat
// opens one) would otherwise all fall due one age later, as a burst of
// table writes that queues the owners' first requests behind it, and
// again one age after that, as the connections reopen theirs together.
// The spread breaks that up. It shortens a batch by a quarter of the age
// on average, so BatchAge is 40 s: batches collect for 30 s on average,
// as they did at a fixed 30 s before, and no more batch records are sent.
func (b *Batcher) due(now time.Time) int64 {
	age := cmp.Or(b.Age, BatchAge)
	return now.Add(age - rand.N(age/2+1)).UnixNano()
}

// Due returns the batches that are due, or all with all=true, and forgets
// them. The caller sends each to the loop topic under its key.
func (b *Batcher) Due(all bool) map[string]*schemas.RequestLog {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]*schemas.RequestLog{}
	now := time.Now().UnixNano()
	for len(b.opened) > 0 && (all || b.opened[0].due <= now) {
		o := heap.Pop(&b.opened).(openedBatch)
		if b.pending[o.key] == o.b {
			out[o.key] = o.b.record()
			delete(b.pending, o.key)
		}
	}
	return out
}

// applyBatch folds a batch record into the connection's state: the
// counters the absorbed requests would have changed one by one. It returns
// nil, and the caller drops the batch, when the table holds no state of
// the batch's connection, or that of an earlier connection with its id.
// Then the first request the batch's repeats follow never reached the
// table: its loop write was lost when the processors failed (a broker
// restart), and the rebuilt ones read that line and the repeats again, as
// commits are in offset order. A state made from the batch would carry the
// batch's time as the connection's epoch, and with it the wrong record ids
// (TestBatcherAfterLostLoopWrites). The rarer other case is a connection
// evicted as idle while its batch was open; it loses the batch's counts.
func (ru Rules) applyBatch(st *schemas.ConnState, r *schemas.RequestLog) *schemas.ConnState {
	if st == nil || ru.newIncarnation(st, r) {
		return nil
	}
	identify(st, r)
	if r.Time.After(st.LastSeen) {
		st.LastSeen = r.Time
	}
	st.MaxCorrelationID = max(st.MaxCorrelationID, r.CorrelationID)
	st.Requests += r.BatchProduce + r.BatchFetch + r.BatchOther
	st.SuppressedProduce += r.BatchProduce
	st.SuppressedFetch += r.BatchFetch
	st.SuppressedBytes += max(r.RecordBytes, 0)
	for _, b := range r.Batch {
		ta := topicAccess(st, b.Topic)
		ta.Total.Add(b.Access)
		ta.Pending.Add(b.Access)
	}
	return st
}
