package e2e

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/embedded"
)

// readmeACLs are the grants README.md's ACL table documents.
func readmeACLs(t *testing.T) []kfake.ACL {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(b), "\n### ACLs\n")
	require.True(t, ok, "README.md has an ACLs section")
	sec, _, _ = strings.Cut(sec, "\n## ")
	var acls []kfake.ACL
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| resource ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		require.Len(t, cells, 5, line)
		res, err := kmsg.ParseACLResourceType(strings.TrimSpace(cells[0]))
		require.NoError(t, err, line)
		pattern, err := kmsg.ParseACLResourcePatternType(strings.TrimSpace(cells[2]))
		require.NoError(t, err, line)
		for _, op := range strings.Split(cells[3], ",") {
			operation, err := kmsg.ParseACLOperation(strings.TrimSpace(op))
			require.NoError(t, err, line)
			acls = append(acls, kfake.ACL{Resource: res, Name: strings.Trim(strings.TrimSpace(cells[1]), "`"),
				Pattern: pattern, Operation: operation, Allow: true})
		}
	}
	require.NotEmpty(t, acls)
	return acls
}

// TestLeastPrivilegeACLs runs kaudit as a principal that has exactly the
// README's ACLs, on a broker that checks them: every record comes out,
// the internal streams are purged, and a restart (which checks the
// configs of the topics that now exist) goes on. Without Delete on the
// topics, the pipeline runs the same, warns once per internal stream and
// start, and keeps their records.
func TestLeastPrivilegeACLs(t *testing.T) {
	skipShort(t)
	const conns = 20
	const adminUser, adminPassword = "admin", "admin-Passw0rd!"
	adminOpts := []kgo.Opt{kgo.SASL(kgoMechanism(t, topology.MechanismPlain, adminUser, adminPassword))}
	for _, tc := range []struct {
		name       string
		dropDelete bool
	}{
		{"the README's ACLs", false},
		{"without Delete on topics", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var acls []kfake.ACL
			for _, a := range readmeACLs(t) {
				if !tc.dropDelete || a.Resource != kmsg.ACLResourceTypeTopic || a.Operation != kmsg.ACLOperationDelete {
					acls = append(acls, a)
				}
			}
			b := startBrokerWith(t, embedded.Options{SASLUsers: []embedded.SASLUser{
				{Mechanism: topology.MechanismPlain, User: adminUser, Password: adminPassword},
				{Mechanism: topology.MechanismPlain, User: saslUser, Password: saslPassword, ACLs: acls},
			}})
			t.Setenv("KAUDIT_E2E_KAFKA_PASSWORD", saslPassword)
			cfg := httpConfig(b)
			cfg.Topics.PurgeInterval = time.Second
			cfg.Security = topology.SecurityConfig{
				Protocol: topology.ProtocolSASLPlaintext,
				SASL: topology.SASLConfig{Mechanism: topology.MechanismPlain, Username: saslUser,
					PasswordEnv: "KAUDIT_E2E_KAFKA_PASSWORD"},
			}
			logs := &logBuffer{}
			logTo := topology.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))
			p, stop := runPipeline(t, cfg, logTo)
			waitReady(t, p)

			cl := newClient(t, b, adminOpts...)
			produceLines(t, cl, cfg.Topics.Raw, append(requestWave(0, conns), "not a request-log line"))
			require.Len(t, consumeWith(t, b, adminOpts, cfg.Topics.Audit, 3*conns, 2*time.Second), 3*conns)
			require.Len(t, consumeWith(t, b, adminOpts, cfg.Topics.DeadLetter, 1, 0), 1)
			starts, ends := settledInternal(t, kadm.NewClient(newClient(t, b, adminOpts...)), cfg, !tc.dropDelete)
			purged := []string{cfg.Topics.Rekeyed, cfg.Topics.AccessByTopic, cfg.Topics.AccessByPrincipal} // the internal streams
			require.Positive(t, ends[cfg.Topics.Rekeyed])
			if tc.dropDelete {
				require.Zero(t, starts[cfg.Topics.Rekeyed], "nothing purged without Delete")
				for _, topic := range purged {
					require.Eventually(t, func() bool { return warnings(logs.String(), "topic="+topic+" ") == 1 },
						5*time.Second, 100*time.Millisecond, "one warning for %s", topic)
				}
			}

			// A second start finds every topic and checks its configs.
			stop()
			startPipeline(t, cfg, logTo)
			produceLines(t, cl, cfg.Topics.Raw, requestWave(conns, conns))
			recs := consumeWith(t, b, adminOpts, cfg.Topics.Audit, 6*conns, 2*time.Second)
			require.Len(t, recs, 6*conns)
			requireDistinctIDs(t, recs)
			if tc.dropDelete {
				// Once per stream and start, not every interval.
				time.Sleep(3 * cfg.Topics.PurgeInterval)
				require.Equal(t, 2*len(purged), warnings(logs.String(), ""), logs.String())
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(strings.ToLower(line), "authoriz") {
					require.Contains(t, line, "may not delete records", "no request denied but the purge's")
				}
			}
		})
	}
}

// warnings counts the log lines that say kaudit may not delete records
// and contain s.
func warnings(log, s string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "may not delete records") && strings.Contains(line, s) {
			n++
		}
	}
	return n
}
