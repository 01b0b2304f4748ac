package enrich

import "github.com/kaudit/kaudit/schemas"

// ErrorName is Kafka's name for an error code (schemas.ErrorName).
func ErrorName(code int16) string { return schemas.ErrorName(code) }

// ErrorMessage is Kafka's default message for an error code.
func ErrorMessage(code int16) string { return schemas.ErrorMessage(code) }

// IsAuthorizationError reports whether a code means an ACL check denied
// the request.
func IsAuthorizationError(code int16) bool { return schemas.IsAuthorizationCode(code) }
