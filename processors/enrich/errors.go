package enrich

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrorName is Kafka's name for an error code, "NONE" for 0.
func ErrorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) && ke.Code == code {
		return ke.Message
	}
	return "UNKNOWN_SERVER_ERROR"
}

// IsAuthorizationError reports whether a code means an ACL check denied
// the request (TOPIC_/GROUP_/CLUSTER_/TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// and the other *_AUTHORIZATION_FAILED codes).
func IsAuthorizationError(code int16) bool {
	return strings.HasSuffix(ErrorName(code), "_AUTHORIZATION_FAILED")
}

// ErrorMessage is Kafka's default message for an error code.
func ErrorMessage(code int16) string {
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) {
		return ke.Description
	}
	return ""
}
