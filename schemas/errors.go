package schemas

import "strings"

// ErrorName is Kafka's name for an error code, "NONE" for 0. Codes missing
// from the table map to UNKNOWN_SERVER_ERROR, as Errors.forCode does.
func ErrorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e, ok := kafkaErrors[code]; ok {
		return e.name
	}
	return "UNKNOWN_SERVER_ERROR"
}

// IsAuthorizationError reports whether a code means an ACL check denied
// the request (TOPIC_/GROUP_/CLUSTER_/TRANSACTIONAL_ID_/DELEGATION_TOKEN_
// AUTHORIZATION_FAILED).
func IsAuthorizationCode(code int16) bool {
	return strings.HasSuffix(ErrorName(code), "_AUTHORIZATION_FAILED")
}

// ErrorMessage is Kafka's default message for an error code, "" for 0 and
// for codes missing from the table.
func ErrorMessage(code int16) string {
	return kafkaErrors[code].message
}
