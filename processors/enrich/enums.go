package enrich

import "encoding/json"

// Kafka writes enums as their codes (FORMATS.md A.8 "Enum codes"); audit
// records carry the names, as the seed's ACL and config records do. Each
// enum is its own table because the codes overlap (2 is TOPIC as an ACL
// resource type and as a config resource type, but DENY as a permission).

// enum maps the codes of one Kafka enum to their names.
type enum map[int8]string

// name renders a code. Unknown codes render as UNKNOWN, as Kafka's own
// fromCode/forId do, so a newer broker's code never breaks a record.
func (e enum) name(code int8) string {
	if n, ok := e[code]; ok {
		return n
	}
	return "UNKNOWN"
}

var (
	// aclResourceType is org.apache.kafka.common.resource.ResourceType.
	aclResourceType = enum{0: "UNKNOWN", 1: "ANY", 2: "TOPIC", 3: "GROUP", 4: "CLUSTER", 5: "TRANSACTIONAL_ID", 6: "DELEGATION_TOKEN", 7: "USER"}
	// aclPatternType is org.apache.kafka.common.resource.PatternType.
	aclPatternType = enum{0: "UNKNOWN", 1: "ANY", 2: "MATCH", 3: "LITERAL", 4: "PREFIXED"}
	// aclOperation is org.apache.kafka.common.acl.AclOperation.
	aclOperation = enum{
		0: "UNKNOWN", 1: "ANY", 2: "ALL", 3: "READ", 4: "WRITE", 5: "CREATE", 6: "DELETE", 7: "ALTER", 8: "DESCRIBE",
		9: "CLUSTER_ACTION", 10: "DESCRIBE_CONFIGS", 11: "ALTER_CONFIGS", 12: "IDEMPOTENT_WRITE", 13: "CREATE_TOKENS", 14: "DESCRIBE_TOKENS",
	}
	// aclPermissionType is org.apache.kafka.common.acl.AclPermissionType.
	aclPermissionType = enum{0: "UNKNOWN", 1: "ANY", 2: "DENY", 3: "ALLOW"}
	// configResourceType is org.apache.kafka.common.config.ConfigResource.Type.
	configResourceType = enum{0: "UNKNOWN", 2: "TOPIC", 4: "BROKER", 8: "BROKER_LOGGER", 16: "CLIENT_METRICS", 32: "GROUP"}
	// configOperation is org.apache.kafka.clients.admin.AlterConfigOp.OpType.
	configOperation = enum{0: "SET", 1: "DELETE", 2: "APPEND", 3: "SUBTRACT"}
)

// patternLiteral is PatternType LITERAL: CreateAcls/DeleteAcls v0 carry no
// pattern type, and Kafka reads them as literal.
const patternLiteral = 3

// Enum fields of the logged bodies: they decode from Kafka's codes and
// encode as names.
type (
	aclResourceTypeID    int8
	aclPatternTypeID     int8
	aclOperationID       int8
	aclPermissionTypeID  int8
	configResourceTypeID int8
	configOpID           int8
)

func (c aclResourceTypeID) MarshalJSON() ([]byte, error) {
	return json.Marshal(aclResourceType.name(int8(c)))
}

func (c aclPatternTypeID) MarshalJSON() ([]byte, error) {
	return json.Marshal(aclPatternType.name(int8(c)))
}

func (c aclOperationID) MarshalJSON() ([]byte, error) {
	return json.Marshal(aclOperation.name(int8(c)))
}

func (c aclPermissionTypeID) MarshalJSON() ([]byte, error) {
	return json.Marshal(aclPermissionType.name(int8(c)))
}

func (c configResourceTypeID) MarshalJSON() ([]byte, error) {
	return json.Marshal(configResourceType.name(int8(c)))
}

func (c configOpID) MarshalJSON() ([]byte, error) {
	return json.Marshal(configOperation.name(int8(c)))
}
