package topology

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/xdg-go/scram"
)

// The secrets the tests use; no output may contain them.
const (
	testPassword = "s3cr3t-Passw0rd!"
	inlineSecret = "inline-hunter2"
)

// securityErrs runs Config.Validate and returns, per error line, the YAML
// path it starts with, and the whole message.
func securityErrs(t *testing.T, s SecurityConfig) (fields []string, msg string) {
	t.Helper()
	c := Defaults()
	c.Security = s
	err := c.Validate()
	if err == nil {
		return nil, ""
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		field, _, ok := strings.Cut(line, ": ")
		require.True(t, ok, "error line %q names no field", line)
		fields = append(fields, field)
	}
	return fields, err.Error()
}

func TestSecurityValidate(t *testing.T) {
	sasl := func(mech string) SASLConfig {
		return SASLConfig{Mechanism: mech, Username: "kaudit", PasswordFile: "/run/secrets/kafka-password"}
	}
	for _, tc := range []struct {
		name   string
		s      SecurityConfig
		fields []string // in validate's order; none: valid
		detail string   // a substring of the message, when it matters
	}{
		{name: "zero value is plaintext"},
		{name: "explicit plaintext", s: SecurityConfig{Protocol: "PLAINTEXT"}},
		{name: "protocol is case-insensitive", s: SecurityConfig{Protocol: "sasl_ssl", SASL: sasl("scram-sha-512")}},
		{name: "ssl with system roots", s: SecurityConfig{Protocol: "SSL"}},
		{name: "ssl with ca and client certificate", s: SecurityConfig{Protocol: "SSL", TLS: TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka"}}},
		{name: "sasl plain over plaintext", s: SecurityConfig{Protocol: "SASL_PLAINTEXT", SASL: sasl("PLAIN")}},
		{name: "scram-sha-256 over ssl", s: SecurityConfig{Protocol: "SASL_SSL", SASL: sasl("SCRAM-SHA-256"), TLS: TLSConfig{CAFile: "ca.pem"}}},
		{name: "password from env", s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordEnv: "KAFKA_PASSWORD"}}},
		{
			name: "unknown protocol", s: SecurityConfig{Protocol: "SASL_TLS"},
			fields: []string{"security.protocol"}, detail: `"SASL_TLS" is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`,
		},
		{
			name: "unknown protocol does not also blame the sections", s: SecurityConfig{Protocol: "TLS", SASL: sasl("PLAIN"), TLS: TLSConfig{CAFile: "ca.pem"}},
			fields: []string{"security.protocol"},
		},
		{
			name: "unknown mechanism", s: SecurityConfig{Protocol: "SASL_SSL", SASL: sasl("GSSAPI")},
			fields: []string{"security.sasl.mechanism"}, detail: `"GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
		},
		{
			name: "sasl settings without a sasl protocol", s: SecurityConfig{SASL: sasl("PLAIN")},
			fields: []string{"security.sasl"}, detail: "mechanism, username, password_file set, but security.protocol is PLAINTEXT: use SASL_PLAINTEXT or SASL_SSL",
		},
		{
			name: "sasl settings with ssl", s: SecurityConfig{Protocol: "SSL", SASL: SASLConfig{Username: "kaudit"}},
			fields: []string{"security.sasl"}, detail: "username set, but security.protocol is SSL",
		},
		{
			name: "sasl protocol without anything", s: SecurityConfig{Protocol: "SASL_PLAINTEXT"},
			fields: []string{"security.sasl.mechanism", "security.sasl.username", "security.sasl.password_file"},
			detail: "a password source is required with protocol SASL_PLAINTEXT: set password_file or password_env",
		},
		{
			name: "sasl protocol without username", s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "PLAIN", PasswordEnv: "P"}},
			fields: []string{"security.sasl.username"}, detail: "required with protocol SASL_SSL",
		},
		{
			name: "both password file and env", s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: "f", PasswordEnv: "E"}},
			fields: []string{"security.sasl.password_file"}, detail: "password_file and password_env are both set; set one",
		},
		{
			name: "inline password", s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", inlinePassword: true}},
			fields: []string{"security.sasl.password"}, detail: "inline passwords are not accepted: secrets come only from a file (password_file) or an environment variable (password_env)",
		},
		{
			name: "inline password next to a file", s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordFile: "f", inlinePassword: true}},
			fields: []string{"security.sasl.password"},
		},
		{
			name: "cert without key", s: SecurityConfig{Protocol: "SSL", TLS: TLSConfig{CertFile: "c.pem"}},
			fields: []string{"security.tls.cert_file"}, detail: "needs key_file",
		},
		{
			name: "key without cert", s: SecurityConfig{Protocol: "SASL_SSL", SASL: sasl("PLAIN"), TLS: TLSConfig{KeyFile: "k.pem"}},
			fields: []string{"security.tls.key_file"}, detail: "needs cert_file",
		},
		{
			name: "tls settings without a tls protocol", s: SecurityConfig{Protocol: "SASL_PLAINTEXT", SASL: sasl("PLAIN"), TLS: TLSConfig{CAFile: "ca.pem", InsecureSkipVerify: true}},
			fields: []string{"security.tls"}, detail: "ca_file, insecure_skip_verify set, but security.protocol is SASL_PLAINTEXT: use SSL or SASL_SSL",
		},
		{
			name: "every mistake at once",
			s: SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "MD5", PasswordFile: "f", PasswordEnv: "E", inlinePassword: true},
				TLS: TLSConfig{CertFile: "c.pem"}},
			fields: []string{
				"security.sasl.mechanism", "security.sasl.password", "security.sasl.password_file",
				"security.sasl.username", "security.tls.cert_file",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields, msg := securityErrs(t, tc.s)
			require.Equal(t, tc.fields, fields, msg)
			if tc.detail != "" {
				require.Contains(t, msg, tc.detail)
			}
			require.Len(t, tc.s.validate(), len(tc.fields), "validate returns one error per bad field")
		})
	}
}

// TestSecurityYAML reads the security section as LoadConfig does: keys are
// snake_case and strict, and an inline password is reported without its
// value ever being kept.
func TestSecurityYAML(t *testing.T) {
	load := func(t *testing.T, body string) (Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "kaudit.yaml")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return LoadConfig(path)
	}
	t.Run("every key", func(t *testing.T) {
		c, err := load(t, `
security:
  protocol: SASL_SSL
  sasl: {mechanism: SCRAM-SHA-512, username: kaudit, password_file: /run/secrets/kafka-password}
  tls: {ca_file: /etc/kaudit/ca.pem, cert_file: /etc/kaudit/client.pem, key_file: /etc/kaudit/client-key.pem, server_name: kafka.internal, insecure_skip_verify: false}
`)
		require.NoError(t, err)
		require.Equal(t, SecurityConfig{
			Protocol: "SASL_SSL",
			SASL:     SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "kaudit", PasswordFile: "/run/secrets/kafka-password"},
			TLS: TLSConfig{
				CAFile: "/etc/kaudit/ca.pem", CertFile: "/etc/kaudit/client.pem", KeyFile: "/etc/kaudit/client-key.pem",
				ServerName: "kafka.internal",
			},
		}, c.Security)
		require.NoError(t, c.Validate())
	})
	t.Run("inline password is dropped and reported", func(t *testing.T) {
		c, err := load(t, `
security:
  protocol: SASL_PLAINTEXT
  sasl:
    mechanism: PLAIN
    username: kaudit
    password: `+inlineSecret+`
`)
		require.NoError(t, err)
		require.True(t, c.Security.SASL.inlinePassword)
		err = c.Validate()
		require.ErrorContains(t, err, "security.sasl.password: inline passwords are not accepted")
		require.NotContains(t, err.Error(), inlineSecret)
		requireNoSecret(t, c, inlineSecret)
	})
	t.Run("unknown sasl key", func(t *testing.T) {
		_, err := load(t, "security:\n  sasl:\n    user: kaudit\n")
		require.ErrorContains(t, err, "line 3: field user not found in security.sasl")
	})
	t.Run("unknown tls key", func(t *testing.T) {
		_, err := load(t, "security:\n  tls:\n    key: |\n      -----BEGIN PRIVATE KEY-----\n")
		require.ErrorContains(t, err, "field key not found")
	})
	t.Run("wrong type in sasl", func(t *testing.T) {
		_, err := load(t, "security:\n  sasl:\n    username: [a, b]\n")
		require.ErrorContains(t, err, "line 3")
	})
}

// certs is a throwaway PKI: a CA, a server certificate for 127.0.0.1 and a
// client certificate, as PEM files in a temp dir.
type certs struct {
	dir                                    string
	caFile, certFile, keyFile, otherKeyPEM string
	server                                 tls.Certificate
	pool                                   *x509.CertPool
}

func newCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kaudit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), k
	}
	srvPEM, srvKey := leaf(2, "localhost", x509.ExtKeyUsageServerAuth)
	server, err := tls.X509KeyPair(srvPEM, keyPEM(srvKey))
	require.NoError(t, err)
	cliPEM, cliKey := leaf(3, "kaudit", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return certs{
		dir:         dir,
		caFile:      write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		certFile:    write("client.pem", cliPEM),
		keyFile:     write("client-key.pem", keyPEM(cliKey)),
		otherKeyPEM: string(keyPEM(key())),
		server:      server,
		pool:        pool,
	}
}

func TestSecurityLoad(t *testing.T) {
	pki := newCerts(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	saslFile := func(path string) SecurityConfig {
		return SecurityConfig{Protocol: "SASL_PLAINTEXT", SASL: SASLConfig{Mechanism: "PLAIN", Username: "kaudit", PasswordFile: path}}
	}
	saslEnv := func(name string) SecurityConfig {
		return SecurityConfig{Protocol: "SASL_PLAINTEXT", SASL: SASLConfig{Mechanism: "PLAIN", Username: "kaudit", PasswordEnv: name}}
	}
	tlsWith := func(tc TLSConfig) SecurityConfig { return SecurityConfig{Protocol: "SSL", TLS: tc} }
	t.Setenv("KAUDIT_TEST_PASSWORD", testPassword+"\n")
	t.Setenv("KAUDIT_TEST_EMPTY", "")
	for _, tc := range []struct {
		name     string
		s        SecurityConfig
		password string   // wanted after load
		wantErr  []string // substrings; the first is the field
		check    func(t *testing.T, m *securityMaterial)
	}{
		{name: "plaintext loads nothing", s: SecurityConfig{}},
		{name: "password file with a trailing newline", s: saslFile(file("nl", testPassword+"\n")), password: testPassword},
		{name: "password file with CRLF", s: saslFile(file("crlf", testPassword+"\r\n")), password: testPassword},
		{name: "password file without newline", s: saslFile(file("bare", testPassword)), password: testPassword},
		{name: "inner and leading spaces are kept", s: saslFile(file("sp", " a b \n")), password: " a b "},
		{name: "missing password file", s: saslFile(filepath.Join(dir, "nope")), wantErr: []string{"security.sasl.password_file:", "nope", "no such file"}},
		{name: "empty password file", s: saslFile(file("empty", "\n")), wantErr: []string{"security.sasl.password_file:", "is empty"}},
		{name: "password env", s: saslEnv("KAUDIT_TEST_PASSWORD"), password: testPassword},
		{name: "unset password env", s: saslEnv("KAUDIT_TEST_UNSET_4711"), wantErr: []string{"security.sasl.password_env:", "KAUDIT_TEST_UNSET_4711 is not set"}},
		{name: "empty password env", s: saslEnv("KAUDIT_TEST_EMPTY"), wantErr: []string{"security.sasl.password_env:", "KAUDIT_TEST_EMPTY is empty"}},
		{
			name: "ca and client certificate",
			s:    tlsWith(TLSConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}),
			check: func(t *testing.T, m *securityMaterial) {
				require.NotNil(t, m.rootCAs)
				require.True(t, m.rootCAs.Equal(pki.pool))
				require.Len(t, m.certs, 1)
				require.Equal(t, "kaudit", m.certs[0].Leaf.Subject.CommonName)
			},
		},
		{name: "system roots", s: tlsWith(TLSConfig{}), check: func(t *testing.T, m *securityMaterial) { require.Nil(t, m.rootCAs) }},
		{name: "missing ca file", s: tlsWith(TLSConfig{CAFile: filepath.Join(dir, "ca-nope")}), wantErr: []string{"security.tls.ca_file:", "ca-nope"}},
		{name: "ca file without certificates", s: tlsWith(TLSConfig{CAFile: file("ca-junk", "junk")}), wantErr: []string{"security.tls.ca_file:", "holds no PEM certificate"}},
		{name: "missing cert file", s: tlsWith(TLSConfig{CertFile: filepath.Join(dir, "c-nope"), KeyFile: pki.keyFile}), wantErr: []string{"security.tls.cert_file:", "c-nope"}},
		{name: "key in the cert file", s: tlsWith(TLSConfig{CertFile: pki.keyFile, KeyFile: pki.keyFile}), wantErr: []string{"security.tls.cert_file:", "no PEM certificate found"}},
		{name: "missing key file", s: tlsWith(TLSConfig{CertFile: pki.certFile, KeyFile: filepath.Join(dir, "k-nope")}), wantErr: []string{"security.tls.key_file:", "k-nope"}},
		{name: "key of another certificate", s: tlsWith(TLSConfig{CertFile: pki.certFile, KeyFile: file("other-key", pki.otherKeyPEM)}), wantErr: []string{"security.tls.key_file:", "does not match"}},
		{
			name:    "password and tls errors together",
			s:       SecurityConfig{Protocol: "SASL_SSL", SASL: saslEnv("KAUDIT_TEST_EMPTY").SASL, TLS: TLSConfig{CAFile: file("ca-junk2", "junk")}},
			wantErr: []string{"security.sasl.password_env:", "security.tls.ca_file:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			require.Empty(t, s.validate(), "the case itself must be valid")
			err := s.load()
			if tc.wantErr != nil {
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), tc.wantErr[0]), "%q starts with its field", err)
				for _, w := range tc.wantErr {
					require.ErrorContains(t, err, w)
				}
				require.NotContains(t, err.Error(), testPassword)
				require.NotContains(t, err.Error(), "PRIVATE KEY")
				require.Nil(t, s.loaded, "nothing half-loaded")
				return
			}
			require.NoError(t, err)
			require.NotNil(t, s.loaded)
			require.Equal(t, tc.password, s.loaded.password)
			if tc.check != nil {
				tc.check(t, s.loaded)
			}
		})
	}
}

func TestSecurityApply(t *testing.T) {
	pki := newCerts(t)
	t.Setenv("KAUDIT_TEST_PASSWORD", testPassword)
	sasl := func(proto, mech string) SecurityConfig {
		return SecurityConfig{Protocol: proto, SASL: SASLConfig{Mechanism: mech, Username: "kaudit", PasswordEnv: "KAUDIT_TEST_PASSWORD"}}
	}
	for _, tc := range []struct {
		name  string
		s     SecurityConfig
		check func(t *testing.T, sc *sarama.Config)
	}{
		{
			name: "plaintext changes nothing",
			check: func(t *testing.T, sc *sarama.Config) {
				require.False(t, sc.Net.SASL.Enable)
				require.False(t, sc.Net.TLS.Enable)
				require.Nil(t, sc.Net.TLS.Config)
			},
		},
		{
			name: "sasl plain",
			s:    sasl("SASL_PLAINTEXT", "PLAIN"),
			check: func(t *testing.T, sc *sarama.Config) {
				require.True(t, sc.Net.SASL.Enable)
				require.Equal(t, sarama.SASLMechanism(sarama.SASLTypePlaintext), sc.Net.SASL.Mechanism)
				require.Equal(t, "kaudit", sc.Net.SASL.User)
				require.Equal(t, testPassword, sc.Net.SASL.Password)
				require.True(t, sc.Net.SASL.Handshake)
				require.Equal(t, sarama.SASLHandshakeV1, sc.Net.SASL.Version)
				require.Nil(t, sc.Net.SASL.SCRAMClientGeneratorFunc)
				require.False(t, sc.Net.TLS.Enable)
			},
		},
		{
			name: "scram-sha-256",
			s:    sasl("SASL_PLAINTEXT", "SCRAM-SHA-256"),
			check: func(t *testing.T, sc *sarama.Config) {
				require.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA256), sc.Net.SASL.Mechanism)
				requireSCRAM(t, sc, scram.SHA256)
			},
		},
		{
			name: "scram-sha-512, lower case",
			s:    sasl("sasl_plaintext", "scram-sha-512"),
			check: func(t *testing.T, sc *sarama.Config) {
				require.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512), sc.Net.SASL.Mechanism)
				requireSCRAM(t, sc, scram.SHA512)
			},
		},
		{
			name: "ssl with ca, client certificate and server name",
			s: SecurityConfig{Protocol: "SSL", TLS: TLSConfig{
				CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: "kafka.internal",
			}},
			check: func(t *testing.T, sc *sarama.Config) {
				require.False(t, sc.Net.SASL.Enable)
				require.True(t, sc.Net.TLS.Enable)
				tc := sc.Net.TLS.Config
				require.NotNil(t, tc)
				require.Equal(t, uint16(tls.VersionTLS12), tc.MinVersion)
				require.True(t, tc.RootCAs.Equal(pki.pool))
				require.Len(t, tc.Certificates, 1)
				require.Equal(t, "kafka.internal", tc.ServerName)
				require.False(t, tc.InsecureSkipVerify)
			},
		},
		{
			name: "sasl_ssl with system roots and insecure skip verify",
			s: func() SecurityConfig {
				s := sasl("SASL_SSL", "SCRAM-SHA-512")
				s.TLS.InsecureSkipVerify = true
				return s
			}(),
			check: func(t *testing.T, sc *sarama.Config) {
				require.True(t, sc.Net.SASL.Enable)
				require.True(t, sc.Net.TLS.Enable)
				require.Nil(t, sc.Net.TLS.Config.RootCAs)
				require.Empty(t, sc.Net.TLS.Config.Certificates)
				require.Empty(t, sc.Net.TLS.Config.ServerName, "sarama fills in each broker's host")
				require.True(t, sc.Net.TLS.Config.InsecureSkipVerify)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.Security = tc.s
			require.NoError(t, c.Validate())
			require.NoError(t, c.LoadSecrets())
			sc := c.SaramaConfig()
			require.NoError(t, sc.Validate(), "sarama accepts the config")
			tc.check(t, sc)
		})
	}

	t.Run("without load sarama rejects the missing password", func(t *testing.T) {
		c := Defaults()
		c.Security = sasl("SASL_PLAINTEXT", "PLAIN")
		require.ErrorContains(t, c.SaramaConfig().Validate(), "Net.SASL.Password must not be empty")
	})
}

// requireSCRAM runs a whole SCRAM conversation between the client the
// sarama config makes and an xdg-go/scram server that knows the password,
// then one with a server that knows another password.
func requireSCRAM(t *testing.T, sc *sarama.Config, h scram.HashGeneratorFcn) {
	t.Helper()
	require.NotNil(t, sc.Net.SASL.SCRAMClientGeneratorFunc)
	server := func(password string) *scram.ServerConversation {
		cl, err := h.NewClient(sc.Net.SASL.User, password, "")
		require.NoError(t, err)
		creds, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: "salt-1234567890", Iters: 4096})
		require.NoError(t, err)
		srv, err := h.NewServer(func(user string) (scram.StoredCredentials, error) {
			if user != sc.Net.SASL.User {
				return scram.StoredCredentials{}, fmt.Errorf("unknown user %s", user)
			}
			return creds, nil
		})
		require.NoError(t, err)
		return srv.NewConversation()
	}
	converse := func(srv *scram.ServerConversation) error {
		c := sc.Net.SASL.SCRAMClientGeneratorFunc()
		if err := c.Begin(sc.Net.SASL.User, sc.Net.SASL.Password, sc.Net.SASL.SCRAMAuthzID); err != nil {
			return err
		}
		msg, err := c.Step("")
		for err == nil && !c.Done() {
			var challenge string
			if challenge, err = srv.Step(msg); err != nil {
				return fmt.Errorf("server: %w", err)
			}
			msg, err = c.Step(challenge)
		}
		return err
	}
	srv := server(testPassword)
	require.NoError(t, converse(srv))
	require.True(t, srv.Valid(), "the server accepted the proof")
	srv = server("another password")
	require.Error(t, converse(srv))
	require.False(t, srv.Valid())
}

// requireNoSecret prints c in every way a log line or error might and
// checks that secret shows in none of them.
func requireNoSecret(t *testing.T, c Config, secret string) {
	t.Helper()
	var outs []string
	for _, v := range []any{c, &c, c.Security, &c.Security, c.Security.SASL} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("config", "config", v)
			outs = append(outs, b.String())
		}
	}
	j, err := json.Marshal(c)
	require.NoError(t, err)
	outs = append(outs, string(j))
	hexSecret := fmt.Sprintf("%x", secret)
	for _, out := range outs {
		require.NotContains(t, out, secret)
		require.NotContains(t, out, hexSecret)
	}
}

func TestSecurityRedaction(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "kafka-password")
	require.NoError(t, os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600))
	c := Defaults()
	c.Security = SecurityConfig{Protocol: "SASL_SSL", SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "kaudit", PasswordFile: pwFile}}
	require.NoError(t, c.Validate())
	require.NoError(t, c.LoadSecrets())
	require.Equal(t, testPassword, c.Security.loaded.password, "the secret is there to leak")

	requireNoSecret(t, c, testPassword)

	s := c.Security.String()
	require.Contains(t, s, "password:"+redacted)
	require.Contains(t, s, "password_file:"+pwFile)
	require.Contains(t, s, "protocol:SASL_SSL")
	require.Contains(t, fmt.Sprintf("%v", c), s, "fmt uses String for the Security field")

	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("starting", "security", c.Security)
	var line struct {
		Security struct {
			Protocol string `json:"protocol"`
			SASL     struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"sasl"`
		} `json:"security"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &line), b.String())
	require.Equal(t, "SASL_SSL", line.Security.Protocol)
	require.Equal(t, "kaudit", line.Security.SASL.Username)
	require.Equal(t, redacted, line.Security.SASL.Password)

	require.Empty(t, SecurityConfig{}.passwordShown(), "no password, nothing to redact")
}
