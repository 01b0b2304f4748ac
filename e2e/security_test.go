package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
)

const (
	saslUser     = "kaudit"
	saslPassword = "e2e-Passw0rd!"
)

// kgoMechanism is the franz-go side of a SASL mechanism, for the test's
// own clients.
func kgoMechanism(t *testing.T, mech, user, pass string) sasl.Mechanism {
	t.Helper()
	switch mech {
	case topology.MechanismPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case topology.MechanismSCRAMSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case topology.MechanismSCRAMSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	t.Fatalf("unknown mechanism %s", mech)
	return nil
}

// securityLines are request-log lines of a few connections: each makes two
// Produce and two Fetch requests, of which one each is audited.
func securityLines(conns int) []string {
	var lines []string
	for m := range 2 {
		for i := range conns {
			c := conn(i, "User:app")
			ts := t0.Add(time.Duration(m*conns+i) * time.Millisecond)
			lines = append(lines,
				demo.Produce(ts, c, int32(2*m+1), "orders", 0, 100),
				demo.Fetch(ts, c, int32(2*m+2), "orders", 0, 500))
		}
	}
	return lines
}

// runSecurePipeline runs kaudit with sec against b, feeds it the lines of
// conns connections through a client with opts, and checks one Produce and
// one Fetch record per connection comes out.
func runSecurePipeline(t *testing.T, b *embedded.Broker, sec topology.SecurityConfig, opts []kgo.Opt) {
	t.Helper()
	const conns = 5
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cfg.Security = sec
	startPipeline(t, cfg)
	produceLines(t, newClient(t, b, opts...), cfg.Topics.Raw, securityLines(conns))
	recs := consumeWith(t, b, opts, cfg.Topics.Audit, 2*conns, 0)
	methods := map[string]int{}
	for _, r := range recs {
		var ev struct {
			Data schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		methods[ev.Data.MethodName]++
	}
	require.Equal(t, map[string]int{"kafka.Produce": conns, "kafka.Fetch": conns}, methods)
}

// TestSASLPipeline runs the pipeline end to end against a broker that
// requires SASL, once per mechanism, with the password from the
// environment (PLAIN) or from a file (SCRAM).
func TestSASLPipeline(t *testing.T) {
	skipShort(t)
	for _, mech := range []string{topology.MechanismPlain, topology.MechanismSCRAMSHA256, topology.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			b := startBrokerWith(t, embedded.Options{SASLUsers: []embedded.SASLUser{{Mechanism: mech, User: saslUser, Password: saslPassword}}})
			sec := topology.SecurityConfig{
				Protocol: topology.ProtocolSASLPlaintext,
				SASL:     topology.SASLConfig{Mechanism: mech, Username: saslUser},
			}
			if mech == topology.MechanismPlain {
				t.Setenv("KAUDIT_E2E_KAFKA_PASSWORD", saslPassword)
				sec.SASL.PasswordEnv = "KAUDIT_E2E_KAFKA_PASSWORD"
			} else {
				sec.SASL.PasswordFile = writeFile(t, "kafka-password", saslPassword+"\n")
			}
			runSecurePipeline(t, b, sec, []kgo.Opt{kgo.SASL(kgoMechanism(t, mech, saslUser, saslPassword))})
		})
	}
}

// TestSASLWrongPassword checks that bad credentials pass New (which
// cannot know) and make Run fail fast instead of retrying forever.
//
// kfake closes the connection on a failed SASLAuthenticate where Apache
// Kafka answers SASL_AUTHENTICATION_FAILED, so sarama sees EOF here.
// TestSASLRejectedByKafka checks the error for Kafka's answer.
func TestSASLWrongPassword(t *testing.T) {
	skipShort(t)
	for _, mech := range []string{topology.MechanismPlain, topology.MechanismSCRAMSHA256} {
		t.Run(mech, func(t *testing.T) {
			b := startBrokerWith(t, embedded.Options{SASLUsers: []embedded.SASLUser{{Mechanism: mech, User: saslUser, Password: saslPassword}}})
			t.Setenv("KAUDIT_E2E_KAFKA_PASSWORD", "not-the-password")
			cfg := topology.Defaults()
			cfg.Brokers = b.Addrs()
			cfg.Security = topology.SecurityConfig{
				Protocol: topology.ProtocolSASLPlaintext,
				SASL:     topology.SASLConfig{Mechanism: mech, Username: saslUser, PasswordEnv: "KAUDIT_E2E_KAFKA_PASSWORD"},
			}
			err := runUntilFailure(t, cfg)
			t.Logf("Run: %v", err)
			require.ErrorContains(t, err, b.Addrs()[0], "the error says which broker")
			require.ErrorContains(t, err, "EOF", "kfake's answer; Kafka's is TestSASLRejectedByKafka's")
			require.NotContains(t, err.Error(), "not-the-password")
		})
	}
}

// TestSASLRejectedByKafka checks the error kaudit reports when the broker
// answers like Apache Kafka does to bad credentials: SaslAuthenticate with
// SASL_AUTHENTICATION_FAILED (58) and a message. kfake cannot, so a sarama
// mock broker plays Kafka's part of the exchange.
func TestSASLRejectedByKafka(t *testing.T) {
	skipShort(t)
	for _, mech := range []string{topology.MechanismPlain, topology.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			mb := sarama.NewMockBrokerAddr(t, 1, "127.0.0.1:0")
			t.Cleanup(mb.Close)
			mb.SetHandlerByMap(map[string]sarama.MockResponse{
				"ApiVersionsRequest":      sarama.NewMockApiVersionsResponse(t),
				"SaslHandshakeRequest":    sarama.NewMockSaslHandshakeResponse(t).SetEnabledMechanisms([]string{mech}),
				"SaslAuthenticateRequest": sarama.NewMockSaslAuthenticateResponse(t).SetError(sarama.ErrSASLAuthenticationFailed),
			})
			t.Setenv("KAUDIT_E2E_KAFKA_PASSWORD", "not-the-password")
			cfg := topology.Defaults()
			cfg.Brokers = []string{mb.Addr()}
			cfg.Security = topology.SecurityConfig{
				Protocol: topology.ProtocolSASLPlaintext,
				SASL:     topology.SASLConfig{Mechanism: mech, Username: saslUser, PasswordEnv: "KAUDIT_E2E_KAFKA_PASSWORD"},
			}
			err := runUntilFailure(t, cfg)
			t.Logf("Run: %v", err)
			require.ErrorIs(t, err, sarama.ErrSASLAuthenticationFailed)
			require.ErrorContains(t, err, mb.Addr(), "the error says which broker")
			require.ErrorContains(t, err, "SASL Authentication failed")
			require.NotContains(t, err.Error(), "not-the-password")
		})
	}
}

// runUntilFailure runs a pipeline that must fail, and returns its error.
// Run gets 60s, more than enough to fail fast, to show it does not hang.
func runUntilFailure(t *testing.T, cfg topology.Config) error {
	t.Helper()
	p, err := topology.New(cfg, topology.WithLogger(testLogger(t)))
	require.NoError(t, err, "New does not connect, so it cannot tell")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err = p.Run(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Run failed on its own, not by the deadline")
	require.Less(t, time.Since(start), 30*time.Second, "Run fails fast")
	return err
}

// TestTLSPipeline runs the pipeline over TLS to a broker with a throwaway
// CA: SASL_SSL with SCRAM-SHA-512, SSL with a client certificate the
// broker requires (mTLS), and a client that does not trust the broker.
func TestTLSPipeline(t *testing.T) {
	skipShort(t)
	pki := newTestPKI(t)
	t.Run("SASL_SSL", func(t *testing.T) {
		b := startBrokerWith(t, embedded.Options{
			SASLUsers: []embedded.SASLUser{{Mechanism: topology.MechanismSCRAMSHA512, User: saslUser, Password: saslPassword}},
			TLS:       &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12},
		})
		sec := topology.SecurityConfig{
			Protocol: topology.ProtocolSASLSSL,
			SASL: topology.SASLConfig{
				Mechanism: topology.MechanismSCRAMSHA512, Username: saslUser,
				PasswordFile: writeFile(t, "kafka-password", saslPassword),
			},
			TLS: topology.TLSConfig{CAFile: pki.caFile},
		}
		runSecurePipeline(t, b, sec, []kgo.Opt{
			kgo.SASL(kgoMechanism(t, topology.MechanismSCRAMSHA512, saslUser, saslPassword)),
			kgo.DialTLSConfig(&tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}),
		})
	})
	t.Run("SSL with a client certificate", func(t *testing.T) {
		b := startBrokerWith(t, embedded.Options{TLS: &tls.Config{
			Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool,
		}})
		sec := topology.SecurityConfig{
			Protocol: topology.ProtocolSSL,
			TLS:      topology.TLSConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: "localhost"},
		}
		runSecurePipeline(t, b, sec, []kgo.Opt{
			kgo.DialTLSConfig(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}),
		})
	})
	t.Run("untrusted broker certificate", func(t *testing.T) {
		b := startBrokerWith(t, embedded.Options{TLS: &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}})
		cfg := topology.Defaults()
		cfg.Brokers = b.Addrs()
		cfg.Security = topology.SecurityConfig{Protocol: topology.ProtocolSSL} // system roots
		err := runUntilFailure(t, cfg)
		t.Logf("Run: %v", err)
		require.ErrorContains(t, err, "certificate signed by unknown authority")
	})
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and
// localhost, and a client certificate; the CA and the client pair are
// also PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	server, client            tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	keyPEM := func(k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	certPEM := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kaudit e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		return certPEM(der), keyPEM(k)
	}
	pair := func(c, k string) tls.Certificate {
		p, err := tls.X509KeyPair([]byte(c), []byte(k))
		require.NoError(t, err)
		return p
	}
	srvCert, srvKey := leaf(2, "localhost", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := leaf(3, fmt.Sprintf("%s-client", saslUser), x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:   writeFile(t, "ca.pem", certPEM(caDER)),
		certFile: writeFile(t, "client.pem", cliCert),
		keyFile:  writeFile(t, "client-key.pem", cliKey),
		server:   pair(srvCert, srvKey),
		client:   pair(cliCert, cliKey),
		pool:     pool,
	}
}
