package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
)

// configFlags registers -config and -brokers; load applies them.
type configFlags struct{ path, brokers *string }

func addConfigFlags(fs *flag.FlagSet) configFlags {
	return configFlags{
		path:    fs.String("config", envOr("KAUDIT_CONFIG", ""), "YAML config file (env KAUDIT_CONFIG)"),
		brokers: fs.String("brokers", envOr("KAUDIT_BROKERS", ""), "comma-separated bootstrap brokers (env KAUDIT_BROKERS; default from config, else 127.0.0.1:9092)"),
	}
}

func (f configFlags) load() (topology.Config, error) { return f.loadWith(nil) }

// routeOverrides are routing flags that override the config file.
type routeOverrides struct {
	routerConfig string
	strict       bool
}

func (f configFlags) loadWith(routing func(*routeOverrides)) (topology.Config, error) {
	cfg, err := topology.LoadConfig(*f.path)
	if err != nil {
		return cfg, err
	}
	if *f.brokers != "" {
		cfg.Brokers = splitList(*f.brokers)
	}
	if routing != nil {
		var o routeOverrides
		routing(&o)
		if o.routerConfig != "" {
			cfg.Routing.RouterConfig = o.routerConfig
		}
		cfg.Routing.StrictTopicNames = cfg.Routing.StrictTopicNames || o.strict
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// Every command that reaches Kafka needs the broker credentials.
	return cfg, cfg.LoadSecrets()
}

func convertCmd(_ context.Context, args []string, stdout io.Writer) error {
	fs, _ := newFlags("convert")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kaudit convert [--config FILE] [--all] < kafka-request.log > records.jsonl")
		fs.PrintDefaults()
	}
	cf := addConfigFlags(fs)
	all := fs.Bool("all", false, "audit every Produce/Fetch, not only the first per connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	st, err := topology.Convert(os.Stdin, stdout, os.Stderr, &cfg, *all)
	fmt.Fprintf(os.Stderr, "convert: %d lines, %d records, %d bad, %d suppressed, %d skipped, %d not audited\n",
		st.Lines, st.Records, st.Bad, st.Suppressed, st.Skipped, st.NotAudited)
	return err
}

func principalsCmd(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: kaudit principals put|delete|list [flags]")
	}
	sub, args := args[0], args[1:]
	fs, _ := newFlags("principals " + sub)
	cf := addConfigFlags(fs)
	typ := fs.String("type", schemas.IdentityUser, "put: confluentUser or confluentServiceAccount")
	id := fs.String("id", "", "put: the identity's id, e.g. u-ok7gjy or sa-j2z32m")
	email := fs.String("email", "", "put: the identity's email (optional)")
	// Flags may come before or after the principal.
	principal := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		principal, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if principal == "" && fs.NArg() > 0 {
		principal = fs.Arg(0)
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	switch sub {
	case "put":
		if principal == "" {
			return errors.New("usage: kaudit principals put PRINCIPAL --type T --id ID [--email E]")
		}
		if err := topology.PutIdentity(&cfg, principal, &schemas.Identity{Type: *typ, ID: *id, Email: *email}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "put %s -> %s %s\n", principal, *typ, *id)
	case "delete":
		if principal == "" {
			return errors.New("usage: kaudit principals delete PRINCIPAL")
		}
		if err := topology.PutIdentity(&cfg, principal, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", principal)
	case "list":
		entries, bad, err := topology.ListIdentities(&cfg)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRINCIPAL\tTYPE\tID\tEMAIL")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Principal, e.Identity.Type, e.Identity.ID, e.Identity.Email)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, b := range bad {
			fmt.Fprintf(os.Stderr, "invalid entry (ignored by the pipeline): %s\n", b)
		}
	default:
		return fmt.Errorf("unknown principals command %q: want put, delete or list", sub)
	}
	return nil
}
