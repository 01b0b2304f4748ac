package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/schemas"
)

func routesCmd(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return errors.New("usage: kaudit routes check [--router-config FILE] [--config FILE] [--explain] < records.jsonl")
	}
	fs, _ := newFlags("routes check")
	cf := addConfigFlags(fs)
	routerCfg := fs.String("router-config", "", "Confluent router config JSON (confluent.security.event.router.config)")
	strict := fs.Bool("strict-topic-names", false, "require Confluent's confluent-audit-log-events* destination names")
	explain := fs.Bool("explain", false, "add the route that matched and why")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := cf.loadWith(func(c *routeOverrides) { c.routerConfig, c.strict = *routerCfg, *strict })
	if err != nil {
		return err
	}
	r, err := cfg.Router()
	if err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), schemas.MaxLineBytes)
	w := bufio.NewWriter(stdout)
	n := 0
	for in.Scan() {
		n++
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		info, err := route.InfoFromEvent([]byte(line))
		if err != nil {
			fmt.Fprintf(os.Stderr, "line %d: %v\n", n, err)
			fmt.Fprintln(w, "!")
			continue
		}
		d := r.Decide(info)
		topics := make([]string, len(d.Targets))
		for i, t := range d.Targets {
			topics[i] = t.Topic
		}
		out := strings.Join(topics, ",")
		if out == "" {
			out = "-"
		}
		if *explain {
			out += "\t" + strings.Join(d.Explain, "; ")
		}
		fmt.Fprintln(w, out)
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return w.Flush()
}
