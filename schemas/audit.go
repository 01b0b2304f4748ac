package schemas

import "encoding/json"

// CloudEvent attributes of every kaudit audit record, as Confluent Cloud
// writes them (seed 002).
const (
	// TypeRequest is the CloudEvent type of a Kafka request audit record.
	TypeRequest = "io.confluent.kafka.server/request"
	// ContentTypeJSON is the datacontenttype of structured records.
	ContentTypeJSON = "application/json"
	// AccessModification is request.accessType on every seed record.
	AccessModification = "MODIFICATION"
	// StatusSuccess and StatusFailure are the values of result.status.
	StatusSuccess = "SUCCESS"
	StatusFailure = "FAILURE"
	// AuthzAllow and AuthzDeny are the values of authorizationInfo.result.
	AuthzAllow = "ALLOW"
	AuthzDeny  = "DENY"
)

// AuditData is the CloudEvent data of an io.confluent.kafka.server/request
// record. Field order follows the seed records, so the JSON reads the same.
type AuditData struct {
	ServiceName        string             `json:"serviceName"`
	MethodName         string             `json:"methodName"`
	CloudResources     []CloudResource    `json:"cloudResources"`
	AuthenticationInfo AuthenticationInfo `json:"authenticationInfo"`
	AuthorizationInfo  AuthorizationInfo  `json:"authorizationInfo"`
	RequestMetadata    RequestMetadata    `json:"requestMetadata"`
	Request            AuditRequest       `json:"request"`
	Result             AuditResult        `json:"result"`
	ResourceName       string             `json:"resourceName"`
}

// CloudResource names a resource and the hierarchy (scope) above it.
type CloudResource struct {
	Scope    Scope       `json:"scope"`
	Resource ResourceRef `json:"resource"`
}

// Scope lists the resources above a CloudResource, outermost first.
type Scope struct {
	Resources []ResourceRef `json:"resources"`
}

// ResourceRef is one typed resource id, e.g. {TOPIC, orders}.
type ResourceRef struct {
	Type       string `json:"type"`
	ResourceID string `json:"resourceId"`
}

// AuthenticationInfo says who made the request.
type AuthenticationInfo struct {
	Principal Principal `json:"principal"`
	Result    string    `json:"result"`
	Identity  string    `json:"identity,omitempty"`
}

// Principal is Confluent's identity object; exactly one field is set.
type Principal struct {
	Email                   string      `json:"email,omitempty"`
	ConfluentUser           *ResourceID `json:"confluentUser,omitempty"`
	ConfluentServiceAccount *ResourceID `json:"confluentServiceAccount,omitempty"`
}

// ResourceID wraps an id the way Confluent's principal objects do.
type ResourceID struct {
	ResourceID string `json:"resourceId"`
}

// AuthorizationInfo carries the authorization outcome.
type AuthorizationInfo struct {
	Result string `json:"result"`
}

// RequestMetadata identifies the request on the wire.
type RequestMetadata struct {
	ConnectionID  string          `json:"connectionId"`
	RequestID     []string        `json:"requestId"`
	ClientID      string          `json:"clientId"`
	ClientAddress []ClientAddress `json:"clientAddress"`
}

// ClientAddress is one client IP.
type ClientAddress struct {
	IP string `json:"ip"`
}

// AuditRequest is the request part of the record; Data is per method.
type AuditRequest struct {
	AccessType string          `json:"accessType"`
	Data       json.RawMessage `json:"data"`
}

// AuditResult is the outcome; Data is per method.
type AuditResult struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
}

// RouteInfo is what routing decides on: the record's method, category and
// subject CRN, who acted, on what, and how it went.
type RouteInfo struct {
	Type         string // CloudEvent type
	Method       string
	Category     string
	Subject      string
	Principal    string // Kafka principal, e.g. User:alice
	Connection   string // Kafka connection id
	ResourceType string
	ResourceName string
	Status       string // SUCCESS or FAILURE
	Authz        string // ALLOW or DENY
	ErrorType    string // Kafka's error name, NONE on success
}

// Record encodings on a destination topic.
const (
	// EncodingStructured writes the whole CloudEvent as the JSON value, with
	// content-type application/cloudevents+json (Confluent's format).
	EncodingStructured = "structured"
	// EncodingBinary writes CloudEvent attributes as ce_ headers and the
	// data as the value.
	EncodingBinary = "binary"
	// EncodingAvro is binary mode with the data Avro-encoded
	// (auditdata.avsc, datacontenttype application/avro).
	EncodingAvro = "avro"
)

// Record keys on a destination topic.
const (
	KeySubject    = "subject"    // the resource CRN: one resource's records stay in order
	KeyPrincipal  = "principal"  // the Kafka principal
	KeyConnection = "connection" // the Kafka connection id
	KeyID         = "none"       // no key: spread over partitions
)

// Target is one destination of one record: a topic and how to write there.
type Target struct {
	Topic    string
	Encoding string
	Key      string
}
