package topology

import "github.com/IBM/sarama"

// SecurityConfig is how kaudit authenticates to the brokers: SASL
// (PLAIN, SCRAM-SHA-256/512) and TLS. Secrets come from env or files and
// are never logged.
type SecurityConfig struct{}

// validate returns one error per bad field, each named by its YAML path.
func (s *SecurityConfig) validate() []error { return nil }

// load reads secrets and certificates (files, env). Called once by New.
func (s *SecurityConfig) load() error { return nil }

// apply sets the loaded settings on a sarama config; it does no I/O.
func (s *SecurityConfig) apply(*sarama.Config) {}
