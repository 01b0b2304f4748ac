package schemas

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorLookups(t *testing.T) {
	tests := []struct {
		name    string
		code    int16
		errName string
		message string
		authz   bool
	}{
		{"none", 0, "NONE", "", false},
		{"unknown server error", -1, "UNKNOWN_SERVER_ERROR", "The server experienced an unexpected error when processing the request.", false},
		{"unknown topic or partition", 3, "UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.", false},
		// kerr calls 6 NOT_LEADER_FOR_PARTITION, Kafka renamed it.
		{"not leader or follower", 6, "NOT_LEADER_OR_FOLLOWER", "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.", false},
		{"message too large", 10, "MESSAGE_TOO_LARGE", "The request included a message larger than the max message size the server will accept.", false},
		// kerr rewrites 29's message; the audit record must carry Kafka's.
		{"topic authorization failed", 29, "TOPIC_AUTHORIZATION_FAILED", "Topic authorization failed.", true},
		{"group authorization failed", 30, "GROUP_AUTHORIZATION_FAILED", "Group authorization failed.", true},
		{"cluster authorization failed", 31, "CLUSTER_AUTHORIZATION_FAILED", "Cluster authorization failed.", true},
		{"topic already exists", 36, "TOPIC_ALREADY_EXISTS", "Topic with this name already exists.", false},
		{"invalid partitions", 37, "INVALID_PARTITIONS", "Number of partitions is below 1.", false},
		{"invalid config", 40, "INVALID_CONFIG", "Configuration is invalid.", false},
		{"invalid request", 42, "INVALID_REQUEST", "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.", false},
		{"transactional id authorization failed", 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "Transactional Id authorization failed.", true},
		// Authentication, not an ACL denial.
		{"sasl authentication failed", 58, "SASL_AUTHENTICATION_FAILED", "SASL Authentication failed.", false},
		{"delegation token authorization failed", 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", "Delegation Token authorization failed.", true},
		{"group id not found", 69, "GROUP_ID_NOT_FOUND", "The group id does not exist.", false},
		{"unknown topic id", 100, "UNKNOWN_TOPIC_ID", "This server does not host this topic ID.", false},
		{"unknown code", 9999, "UNKNOWN_SERVER_ERROR", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.errName, ErrorName(tc.code))
			require.Equal(t, tc.message, ErrorMessage(tc.code))
			require.Equal(t, tc.authz, IsAuthorizationCode(tc.code))
		})
	}
}

func TestKafkaErrorsTable(t *testing.T) {
	upperSnake := regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)
	seen := make(map[string]int16, len(kafkaErrors))
	for code, e := range kafkaErrors {
		require.NotZero(t, code, "NONE has no exception and must not be listed")
		require.Regexp(t, upperSnake, e.name, "code %d", code)
		require.NotEmpty(t, e.message, "code %d", code)
		if prev, dup := seen[e.name]; dup {
			require.Failf(t, "duplicate name", "%s used by %d and %d", e.name, prev, code)
		}
		seen[e.name] = code
	}
	// Kafka numbers codes contiguously, so a gap means a dropped row.
	for code := int16(1); code <= 135; code++ {
		require.Contains(t, kafkaErrors, code)
	}
	require.Contains(t, kafkaErrors, int16(-1))
	require.Len(t, kafkaErrors, 136)

	var authz []int16
	for code := range kafkaErrors {
		if IsAuthorizationCode(code) {
			authz = append(authz, code)
		}
	}
	require.ElementsMatch(t, []int16{29, 30, 31, 53, 65}, authz)
}
