package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Profiles of kaudit taken with Options.ProfileDir. The throughput run is
// profiled from its first line for throughputProfileFor (about its length
// on this machine: one 30 s profile is its steady state, whatever the
// workload's size); the latency phase over its whole length, plus an
// execution trace of traceFor from its middle, where the batch wave is.
const (
	throughputProfileFor = 30 * time.Second
	traceFor             = 5 * time.Second
)

// profileReq is one profile to take: kaudit's /debug/pprof/<endpoint> for
// d, starting after a delay, written to file in the profile dir.
type profileReq struct {
	endpoint string // "profile" (CPU) or "trace"
	after, d time.Duration
	file     string
}

// profiles are profiles being taken in the background.
type profiles struct {
	cancel context.CancelFunc
	errs   chan error
	n      int
}

// startProfiles starts reqs against p; nil without a profile dir.
func (r *run) startProfiles(ctx context.Context, p *pipeline, reqs ...profileReq) *profiles {
	if r.o.ProfileDir == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ps := &profiles{cancel: cancel, errs: make(chan error, len(reqs)), n: len(reqs)}
	for _, q := range reqs {
		go func() { ps.errs <- p.fetchProfile(ctx, q, filepath.Join(r.o.ProfileDir, q.file)) }()
	}
	return ps
}

// wait waits for every profile to be written. It and stop may be called
// more than once, and on nil.
func (ps *profiles) wait() error {
	if ps == nil {
		return nil
	}
	var errs []error
	for ; ps.n > 0; ps.n-- {
		errs = append(errs, <-ps.errs)
	}
	ps.cancel()
	return errors.Join(errs...)
}

// stop gives up on the profiles still being taken, for a phase that
// failed, and waits for their goroutines to end.
func (ps *profiles) stop() {
	if ps != nil {
		ps.cancel()
		_ = ps.wait() //nolint:errcheck // given up on: the phase failed
	}
}

// fetchProfile takes one profile into path. The server ends the request
// after q.d; the timeout only bounds a kaudit that stopped answering.
func (p *pipeline) fetchProfile(ctx context.Context, q profileReq, path string) error {
	select {
	case <-time.After(q.after):
	case <-ctx.Done():
		return ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, q.d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", p.http, q.endpoint, max(int(q.d/time.Second), 1))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", q.file, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200)) //nolint:errcheck // best effort, for the message
		return fmt.Errorf("profile %s: %s: %s", q.file, resp.Status, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", q.file, err)
	}
	return f.Close()
}
