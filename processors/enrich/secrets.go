package enrich

import (
	"encoding/json"
	"strings"
)

// hidden is the value Kafka writes for a masked config (Password.HIDDEN);
// kaudit masks with the same string so readers need to know only one.
const hidden = "[hidden]"

// sensitiveConfigParts are config-name fragments that mark a secret value.
// Kafka masks only AlterConfigs/IncrementalAlterConfigs values whose type
// is PASSWORD or unknown, and never CreateTopics configs (FORMATS.md A.4),
// while audit records are read by far more people than broker logs. The
// list errs towards masking: hiding a harmless value (e.g. the token
// endpoint URL) costs little, leaking a credential costs a lot.
var sensitiveConfigParts = []string{
	"password",     // ssl.key.password, ssl.keystore.password, ssl.truststore.password, ...
	"secret",       // client secrets, API secrets
	"jaas",         // sasl.jaas.config embeds credentials
	"token",        // delegation and OAuth tokens
	"credential",   // *.credentials.*
	"keystore.key", // ssl.keystore.key: a PEM private key
	"private.key",
	"user.info", // basic.auth.user.info = user:password
}

// isSensitiveConfig reports whether the value of a config (topic, broker or
// cluster-link config) must not appear in an audit record. The match is
// case-insensitive on the config name.
func isSensitiveConfig(name string) bool {
	n := strings.ToLower(name)
	for _, p := range sensitiveConfigParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return strings.HasPrefix(n, "ssl.key.") || strings.HasSuffix(n, ".key")
}

// maskValue returns the value to record for a config: hidden for a set,
// sensitive value, else the value as logged (null stays null: it says the
// config is deleted, not what it held).
func maskValue(name string, value *string) *string {
	if value == nil || !isSensitiveConfig(name) {
		return value
	}
	h := hidden
	return &h
}

// sensitiveFields are request fields that carry secrets in APIs without a
// specific mapping: SaslAuthenticate authBytes (a re-authentication's
// password), AlterUserScramCredentials salt/saltedPassword, and the
// delegation-token hmac of RenewDelegationToken/ExpireDelegationToken.
var sensitiveFields = map[string]bool{"authBytes": true, "salt": true, "saltedPassword": true, "hmac": true}

// redactBody masks secrets in a logged body that has no specific mapping:
// the fields in sensitiveFields, and the value of every {name|key, value}
// object whose name is a sensitive config. Key order is kept, so the body
// still reads as Kafka logged it.
func redactBody(raw json.RawMessage) (json.RawMessage, error) {
	v, err := parseJSON(raw)
	if err != nil {
		return nil, err
	}
	hiddenJSON := json.RawMessage(`"` + hidden + `"`)
	v.walk(func(x *jsonValue) {
		if x.kind != '{' {
			return
		}
		name, ok := x.get("name").str()
		if !ok {
			name, ok = x.get("key").str()
		}
		for _, m := range x.members {
			isNull := m.val.kind == 0 && string(m.val.scalar) == "null"
			if isNull {
				continue
			}
			if sensitiveFields[m.key] || (ok && m.key == "value" && isSensitiveConfig(name)) {
				*m.val = jsonValue{scalar: hiddenJSON}
			}
		}
	})
	return v.MarshalJSON()
}
