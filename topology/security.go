package topology

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
	"go.yaml.in/yaml/v3"
)

// Security protocols, as Kafka's security.protocol names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// SASL mechanisms kaudit speaks, as Kafka's sasl.mechanism names them.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

var (
	protocols  = []string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}
	mechanisms = []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512}
)

// redacted stands in for a secret wherever a config is printed.
const redacted = "[REDACTED]"

// SecurityConfig is how kaudit authenticates to the brokers: SASL
// (PLAIN, SCRAM-SHA-256/512) and TLS. Secrets come from env or files and
// are never logged: the password and the client key live only in an
// unexported pointer that fmt does not follow, and String and LogValue
// print the rest.
type SecurityConfig struct {
	// Protocol is Kafka's security.protocol: PLAINTEXT (default), SSL,
	// SASL_PLAINTEXT or SASL_SSL.
	Protocol string `yaml:"protocol"`
	// SASL applies with SASL_PLAINTEXT and SASL_SSL.
	SASL SASLConfig `yaml:"sasl"`
	// TLS applies with SSL and SASL_SSL.
	TLS TLSConfig `yaml:"tls"`

	// loaded is what load read. A pointer, so that printing a Config with
	// %v or %#v shows an address and never the secrets behind it.
	loaded *securityMaterial
}

// SASLConfig names the SASL user and where its password comes from. There
// is deliberately no password field: an inline password in the YAML is
// reported by Validate and its value is dropped while parsing.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile is read at start; one trailing newline is ignored.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`

	// inlinePassword records that the YAML had a password key.
	inlinePassword bool
}

// TLSConfig verifies the brokers and, with a client certificate,
// authenticates kaudit to them (mTLS).
type TLSConfig struct {
	// CAFile holds PEM CA certificates; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile hold the PEM client certificate and its key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the broker certificates must carry; empty
	// uses each broker's host name.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// securityMaterial is what load reads from files and the environment.
type securityMaterial struct {
	password string
	rootCAs  *x509.CertPool
	certs    []tls.Certificate
}

// String keeps the material out of any output that reaches it directly.
func (*securityMaterial) String() string { return redacted }

// GoString is String for %#v.
func (m *securityMaterial) GoString() string { return m.String() }

// protocol is the normalised protocol; "" is PLAINTEXT.
func (s *SecurityConfig) protocol() string {
	if s.Protocol == "" {
		return ProtocolPlaintext
	}
	return strings.ToUpper(strings.TrimSpace(s.Protocol))
}

func (s *SecurityConfig) usesSASL() bool {
	p := s.protocol()
	return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL
}

func (s *SecurityConfig) usesTLS() bool {
	p := s.protocol()
	return p == ProtocolSSL || p == ProtocolSASLSSL
}

// mechanism is the normalised SASL mechanism.
func (s *SASLConfig) mechanism() string {
	return strings.ToUpper(strings.TrimSpace(s.Mechanism))
}

// setKeys lists the SASL keys that are set, for error messages.
func (s *SASLConfig) setKeys() []string {
	var keys []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"mechanism", s.Mechanism != ""}, {"username", s.Username != ""}, {"password", s.inlinePassword},
		{"password_file", s.PasswordFile != ""}, {"password_env", s.PasswordEnv != ""},
	} {
		if kv.set {
			keys = append(keys, kv.key)
		}
	}
	return keys
}

func (t *TLSConfig) setKeys() []string {
	var keys []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
		{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify},
	} {
		if kv.set {
			keys = append(keys, kv.key)
		}
	}
	return keys
}

// validate returns one error per bad field, each named by its YAML path.
// It does no I/O: files and variables are read by load.
func (s *SecurityConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("security.%s: "+format, append([]any{field}, args...)...))
	}
	proto := s.protocol()
	known := slices.Contains(protocols, proto)
	if !known {
		bad("protocol", "%q is not one of %s", s.Protocol, strings.Join(protocols, ", "))
	}
	sasl := &s.SASL
	if m := sasl.mechanism(); m != "" && !slices.Contains(mechanisms, m) {
		bad("sasl.mechanism", "%q is not one of %s", sasl.Mechanism, strings.Join(mechanisms, ", "))
	}
	if sasl.inlinePassword {
		bad("sasl.password", "inline passwords are not accepted: secrets come only from a file (password_file) or an environment variable (password_env)")
	}
	if sasl.PasswordFile != "" && sasl.PasswordEnv != "" {
		bad("sasl.password_file", "password_file and password_env are both set; set one")
	}
	if s.usesSASL() {
		if sasl.mechanism() == "" {
			bad("sasl.mechanism", "required with protocol %s: one of %s", proto, strings.Join(mechanisms, ", "))
		}
		if sasl.Username == "" {
			bad("sasl.username", "required with protocol %s", proto)
		}
		if sasl.PasswordFile == "" && sasl.PasswordEnv == "" && !sasl.inlinePassword {
			bad("sasl.password_file", "a password source is required with protocol %s: set password_file or password_env", proto)
		}
	} else if keys := sasl.setKeys(); known && len(keys) > 0 {
		bad("sasl", "%s set, but security.protocol is %s: use %s or %s",
			strings.Join(keys, ", "), proto, ProtocolSASLPlaintext, ProtocolSASLSSL)
	}
	tc := &s.TLS
	if tc.CertFile != "" && tc.KeyFile == "" {
		bad("tls.cert_file", "needs key_file (the client certificate's private key)")
	}
	if tc.KeyFile != "" && tc.CertFile == "" {
		bad("tls.key_file", "needs cert_file (the client certificate)")
	}
	if keys := tc.setKeys(); known && !s.usesTLS() && len(keys) > 0 {
		bad("tls", "%s set, but security.protocol is %s: use %s or %s",
			strings.Join(keys, ", "), proto, ProtocolSSL, ProtocolSASLSSL)
	}
	return errs
}

// load reads secrets and certificates (files, env). Called once by New,
// after validate. Errors name the field and the file or variable, never a
// secret's value.
func (s *SecurityConfig) load() error {
	var m securityMaterial
	var errs []error
	if s.usesSASL() {
		pw, err := s.SASL.readPassword()
		if err != nil {
			errs = append(errs, err)
		}
		m.password = pw
	}
	if s.usesTLS() {
		errs = append(errs, s.TLS.read(&m)...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.loaded = &m
	return nil
}

func (s *SASLConfig) readPassword() (string, error) {
	var pw string
	switch {
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			// *PathError names the file and the cause, never its content.
			return "", fmt.Errorf("security.sasl.password_file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("security.sasl.password_file: %s is empty", s.PasswordFile)
		}
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("security.sasl.password_env: environment variable %s is not set", s.PasswordEnv)
		}
		pw = strings.TrimRight(v, "\r\n")
		if pw == "" {
			return "", fmt.Errorf("security.sasl.password_env: environment variable %s is empty", s.PasswordEnv)
		}
	default:
		return "", errors.New("security.sasl.password_file: no password source: set password_file or password_env")
	}
	return pw, nil
}

func (t *TLSConfig) read(m *securityMaterial) []error {
	var errs []error
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("security.tls.ca_file: %w", err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				errs = append(errs, fmt.Errorf("security.tls.ca_file: %s holds no PEM certificate", t.CAFile))
			}
			m.rootCAs = pool
		}
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return errs // validate reported a half pair
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return append(errs, fmt.Errorf("security.tls.cert_file: %w", err))
	}
	if err := checkCertPEM(certPEM); err != nil {
		return append(errs, fmt.Errorf("security.tls.cert_file: %s: %w", t.CertFile, err))
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return append(errs, fmt.Errorf("security.tls.key_file: %w", err))
	}
	// The certificate parsed, so what fails now is the key or the match.
	// crypto/tls's messages never quote the key.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return append(errs, fmt.Errorf("security.tls.key_file: %s (for cert_file %s): %w", t.KeyFile, t.CertFile, err))
	}
	m.certs = []tls.Certificate{pair}
	return errs
}

// checkCertPEM checks that b holds at least one parsable certificate, so
// that errors of the key pair can be blamed on the key.
func checkCertPEM(b []byte) error {
	found := false
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return err
		}
		found = true
	}
	if !found {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// apply sets the loaded settings on a sarama config; it does no I/O.
// Without a prior load the password and certificates are missing, and
// sarama's own validation rejects a SASL config without a password.
func (s *SecurityConfig) apply(sc *sarama.Config) {
	var m securityMaterial
	if s.loaded != nil {
		m = *s.loaded
	}
	if s.usesSASL() {
		mech := s.SASL.mechanism()
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
		// v1 wraps the exchange in Kafka requests, so a broker answers a
		// bad password with an error code (Kafka >= 1.0).
		sc.Net.SASL.Version = sarama.SASLHandshakeV1
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = s.SASL.Username
		sc.Net.SASL.Password = m.password
		switch mech {
		case MechanismSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(scram.SHA256)
		case MechanismSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(scram.SHA512)
		}
	}
	if s.usesTLS() {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      m.rootCAs,
			Certificates: m.certs,
			ServerName:   s.TLS.ServerName,
			// Off unless the config asks; documented as for tests only.
			InsecureSkipVerify: s.TLS.InsecureSkipVerify, //nolint:gosec // explicit opt-in
		}
	}
}

// scramClient adapts xdg-go/scram to sarama.SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func newSCRAMClient(h scram.HashGeneratorFcn) func() sarama.SCRAMClient {
	return func() sarama.SCRAMClient { return &scramClient{hash: h} }
}

// Begin starts a conversation. scram (>= v1.3) keeps the password out of
// its errors.
func (c *scramClient) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	c.conv = cl.NewConversation()
	return nil
}

// Step answers the server's challenge ("" for the first message).
func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

// Done reports whether the conversation is over.
func (c *scramClient) Done() bool { return c.conv.Done() }

// String prints the settings with the password redacted; fmt uses it when
// a Config is printed.
func (s SecurityConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{protocol:%s", s.protocol())
	fmt.Fprintf(&b, " sasl:{mechanism:%s username:%s password:%s password_file:%s password_env:%s}",
		s.SASL.Mechanism, s.SASL.Username, s.passwordShown(), s.SASL.PasswordFile, s.SASL.PasswordEnv)
	fmt.Fprintf(&b, " tls:{ca_file:%s cert_file:%s key_file:%s server_name:%s insecure_skip_verify:%t}}",
		s.TLS.CAFile, s.TLS.CertFile, s.TLS.KeyFile, s.TLS.ServerName, s.TLS.InsecureSkipVerify)
	return b.String()
}

// LogValue is String for slog: the password shows as [REDACTED].
func (s SecurityConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("protocol", s.protocol()),
		slog.Group("sasl",
			slog.String("mechanism", s.SASL.Mechanism), slog.String("username", s.SASL.Username),
			slog.String("password", s.passwordShown()),
			slog.String("password_file", s.SASL.PasswordFile), slog.String("password_env", s.SASL.PasswordEnv)),
		slog.Group("tls",
			slog.String("ca_file", s.TLS.CAFile), slog.String("cert_file", s.TLS.CertFile),
			slog.String("key_file", s.TLS.KeyFile), slog.String("server_name", s.TLS.ServerName),
			slog.Bool("insecure_skip_verify", s.TLS.InsecureSkipVerify)),
	)
}

// passwordShown is [REDACTED] when there is a password, else "".
func (s SecurityConfig) passwordShown() string {
	if s.SASL.inlinePassword || (s.loaded != nil && s.loaded.password != "") {
		return redacted
	}
	return ""
}

// saslKeys are SASLConfig's YAML keys; "password" is handled apart.
var saslKeys = []string{"mechanism", "username", "password_file", "password_env"}

// UnmarshalYAML decodes the sasl section strictly, like the rest of the
// config, but drops an inline password before decoding so that its value
// is never stored; Validate then reports it.
func (s *SASLConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain SASLConfig // no methods: no recursion
	inline := false
	if n.Kind == yaml.MappingNode {
		kept := *n
		kept.Content = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			switch {
			case key.Value == "password":
				inline = true
				continue
			case !slices.Contains(saslKeys, key.Value):
				return fmt.Errorf("line %d: field %s not found in security.sasl (keys: %s)",
					key.Line, key.Value, strings.Join(saslKeys, ", "))
			}
			kept.Content = append(kept.Content, key, n.Content[i+1])
		}
		n = &kept
	}
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = SASLConfig(p)
	s.inlinePassword = inline
	return nil
}
