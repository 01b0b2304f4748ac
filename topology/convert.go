package topology

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/schemas"
)

// ConvertStats counts what Convert did.
type ConvertStats struct {
	Lines, Records, Bad, Skipped, Suppressed, NotAudited int
}

// Convert is the pipeline without Kafka, for backfills and archived logs:
// it reads request-log lines (log4j or bare JSON, mixed), applies the same
// parse, dedup and enrich steps in input order, and writes one structured
// CloudEvent JSON per line. all=true turns off the first Produce/Fetch per
// connection rule. Bad lines are reported on errOut with their line number
// and skipped; only I/O errors end the run.
func Convert(in io.Reader, out, errOut io.Writer, c *Config, all bool) (ConvertStats, error) {
	cv := &converter{
		cfg: c, all: all, cluster: c.enrichCluster(),
		out: bufio.NewWriter(out), errOut: errOut,
		conns: map[string]*schemas.ConnState{}, topics: map[string]string{},
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := readLine(r)
		if len(line) > 0 || errors.Is(err, errLineTooLong) {
			cv.stats.Lines++
			if werr := cv.line(line, err); werr != nil {
				return cv.stats, werr
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return cv.stats, cv.out.Flush()
		case err != nil && !errors.Is(err, errLineTooLong):
			return cv.stats, fmt.Errorf("read input: %w", err)
		}
	}
}

// converter holds Convert's state: what the pipeline keeps in tables.
type converter struct {
	cfg     *Config
	all     bool
	cluster enrich.Cluster
	out     *bufio.Writer
	errOut  io.Writer
	conns   map[string]*schemas.ConnState // the dedup table
	topics  map[string]string             // the topic catalog
	stats   ConvertStats
	// streamTime is the latest log time read, which idleness is judged by.
	streamTime time.Time
}

func (cv *converter) lookups() enrich.Lookups {
	return enrich.Lookups{
		TopicName: func(cluster, id string) (string, bool) {
			n, ok := cv.topics[schemas.TopicKey(cluster, id)]
			return n, ok
		},
		Identity: func(p string) (schemas.Identity, bool) {
			id, ok := cv.cfg.Principals[p]
			return id, ok
		},
	}
}

// report counts a bad line and says why on errOut.
func (cv *converter) report(reason string, err error) error {
	cv.stats.Bad++
	_, werr := fmt.Fprintf(cv.errOut, "line %d: %s: %v\n", cv.stats.Lines, reason, err)
	return werr
}

// line converts one line; it returns only write errors.
func (cv *converter) line(line []byte, readErr error) error {
	if errors.Is(readErr, errLineTooLong) {
		return cv.report(schemas.ReasonTooLarge, fmt.Errorf("line exceeds %d bytes", schemas.MaxLineBytes))
	}
	rec, err := schemas.ParseLine(line, schemas.ParseOptions{Cluster: cv.cfg.Cluster.ID, Location: cv.cfg.location(), MaxLineBytes: cv.cfg.Input.MaxLineBytes})
	if errors.Is(err, schemas.ErrForwarded) {
		cv.stats.Skipped++
		return nil
	}
	if err != nil {
		reason := schemas.ReasonBadJSON
		var pe *schemas.ParseError
		if errors.As(err, &pe) {
			reason, err = pe.Reason, pe.Err
		}
		return cv.report(reason, err)
	}
	rec.SourceOffset = int64(cv.stats.Lines) // the line number identifies the line for replays
	ids, err := schemas.TopicIDs(rec)
	if err != nil {
		return cv.report(schemas.ReasonBadBody, err)
	}
	for _, t := range ids {
		cv.topics[schemas.TopicKey(t.Cluster, t.ID)] = t.Name
	}
	if !cv.cfg.Audited(rec.API()) {
		cv.stats.NotAudited++
		return nil
	}
	key := schemas.ConnKey(rec.Cluster, rec.Connection)
	rules := dedup.Rules{TTL: cv.cfg.Dedup.TTL}
	state, keep := rules.Decide(cv.conns[key], rec)
	cv.conns[key] = state
	cv.evictIdle(rules, rec)
	if !keep && !cv.all {
		cv.stats.Suppressed++
		return nil
	}
	recs, err := enrich.Enrich(rec, cv.cluster, cv.lookups())
	if err != nil {
		return cv.report(enrich.ReasonEnrich, err)
	}
	for _, r := range recs {
		b, err := json.Marshal(r.Event)
		if err != nil {
			return err
		}
		if _, err := cv.out.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		cv.stats.Records++
	}
	return nil
}

// evictIdle drops idle connections every 10000 lines, as the pipeline's
// sweeper does, so memory stays bounded over long archives.
func (cv *converter) evictIdle(rules dedup.Rules, rec *schemas.RequestLog) {
	if rec.Time.After(cv.streamTime) {
		cv.streamTime = rec.Time
	}
	if cv.stats.Lines%10000 != 0 {
		return
	}
	for k, st := range cv.conns {
		if rules.Expired(st, cv.streamTime) {
			delete(cv.conns, k)
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline. A line longer than
// MaxLineBytes is consumed and reported as errLineTooLong rather than
// buffered whole.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > schemas.MaxLineBytes+2 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		return line, err
	}
}
