// Package enrich turns one kept request-log record into Confluent-shaped
// CloudEvent audit records, one per resource the request touched. Enrich is
// pure: ids and times come from the input, so a replay yields the same bytes.
package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"github.com/kaudit/kaudit/schemas"
)

// Cluster describes the audited cluster; it supplies every CRN.
type Cluster struct {
	ID           string // kafka=<id>
	CRNAuthority string // crn://<authority>/; "" gives Platform-style crn:///
	Organization string // optional Cloud scope: organization=<o>
	Environment  string // optional Cloud scope: environment=<e>
	CloudCluster string // optional Cloud scope: cloud-cluster=<c>
}

// Lookups resolve ids the request log does not spell out. Nil funcs mean
// "unknown"; Enrich then falls back as documented on each field.
type Lookups struct {
	// TopicName maps a topic id to its name (Fetch/Produce v13+).
	TopicName func(cluster, topicID string) (string, bool)
	// Identity maps a Kafka principal (User:alice) to its directory entry.
	// Only a resolved entry gives Produce and Fetch records an identity CRN.
	Identity func(principal string) (schemas.Identity, bool)
}

// Record is one audit record plus what routing needs to know about it.
type Record struct {
	Event cloudevents.Event
	Route schemas.RouteInfo
}

// resource is one audited resource of a request: its type and name, the
// Kafka error code that decides its outcome, and the method-specific
// request/result data. A KAFKA_CLUSTER resource needs no name: it is the
// audited cluster, and build names it by Cluster.ID.
type resource struct {
	Type      string
	Name      string
	ErrorCode int16
	Request   any
	Result    any
}

// MaxRecordsPerRequest bounds the records one request fans out into. Real
// admin requests name a few resources; a huge array is dead-lettered
// rather than flooding the audit topics.
const MaxRecordsPerRequest = 10000

// ErrTooManyResources marks a request over MaxRecordsPerRequest.
var ErrTooManyResources = errors.New("too many resources")

// resourcesFunc finds the audited resources of one request.
type resourcesFunc func(r *schemas.RequestLog, l Lookups) ([]resource, error)

// Enrich maps one request-log record to its audit records, one per
// resource. Methods without a specific mapping get the generic one. It
// returns a wrapped decode error when the logged bodies do not have the
// shape of their API.
func Enrich(r *schemas.RequestLog, c Cluster, l Lookups) ([]Record, error) {
	c = c.For(r.Cluster)
	m := r.API()
	find, ok := methods[r.APIName]
	if !ok {
		find = genericResources
	}
	res, err := find(r, l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Method, err)
	}
	if len(res) > MaxRecordsPerRequest {
		return nil, fmt.Errorf("%s: %d resources, limit %d: %w", m.Method, len(res), MaxRecordsPerRequest, ErrTooManyResources)
	}
	out := make([]Record, 0, len(res))
	for _, x := range res {
		rec, err := build(r, c, l, m, x)
		if err != nil {
			return nil, fmt.Errorf("%s %s %q: %w", m.Method, x.Type, x.Name, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// idNamespace scopes kaudit's name-based (v5) record ids.
var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/kaudit/kaudit/record"))

// RecordID derives a record id from what identifies the request and the
// resource, so a replayed line gets the id it had the first time.
func RecordID(r *schemas.RequestLog, method, resType, resName string) string {
	// The log time keeps a broker restart's reused connection id (and
	// correlation ids counting from 0 again) from repeating an earlier
	// incarnation's ids.
	key := strings.Join([]string{
		r.Cluster, r.Connection, strconv.FormatInt(r.Time.UnixMilli(), 10),
		strconv.Itoa(int(r.CorrelationID)), method, resType, resName,
	}, "\x00")
	return uuid.NewSHA1(idNamespace, []byte(key)).String()
}

// dataPlaneMethods are the methods whose Confluent Cloud records carry
// authenticationInfo.identity (seed 002: only Produce and Fetch do).
var dataPlaneMethods = map[string]bool{"kafka.Produce": true, "kafka.Fetch": true}

func build(r *schemas.RequestLog, c Cluster, l Lookups, m schemas.API, x resource) (Record, error) {
	reqData, err := json.Marshal(x.Request)
	if err != nil {
		return Record{}, fmt.Errorf("request data: %w", err)
	}
	result := x.Result
	if result == nil {
		result = defaultResult(x.ErrorCode, nil)
	}
	resData, err := json.Marshal(result)
	if err != nil {
		return Record{}, fmt.Errorf("result data: %w", err)
	}
	// A KAFKA_CLUSTER resource is the audited cluster itself.
	resID := x.Name
	if x.Type == ResKafkaCluster {
		resID = c.ID
	}
	subject, scope := c.resourceCRN(x.Type, resID)
	status := schemas.StatusSuccess
	if x.ErrorCode != 0 {
		status = schemas.StatusFailure
	}
	authz := schemas.AuthzAllow
	if IsAuthorizationError(x.ErrorCode) {
		authz = schemas.AuthzDeny
	}
	who, id, resolved := principal(r.Principal, l)
	authn := schemas.AuthenticationInfo{
		Principal: who,
		Result:    schemas.StatusSuccess, // the request log only shows authenticated connections
	}
	if resolved && dataPlaneMethods[m.Method] && c.Organization != "" {
		authn.Identity = c.identityCRN(id)
	}
	data := schemas.AuditData{
		ServiceName:        c.serviceName(),
		MethodName:         m.Method,
		CloudResources:     []schemas.CloudResource{{Scope: schemas.Scope{Resources: scope}, Resource: schemas.ResourceRef{Type: x.Type, ResourceID: resID}}},
		AuthenticationInfo: authn,
		AuthorizationInfo:  schemas.AuthorizationInfo{Result: authz},
		RequestMetadata: schemas.RequestMetadata{
			ConnectionID:  r.Connection,
			RequestID:     []string{strconv.Itoa(int(r.CorrelationID))},
			ClientID:      r.ClientID,
			ClientAddress: []schemas.ClientAddress{{IP: schemas.ClientIP(r.Connection)}},
		},
		Request:      schemas.AuditRequest{AccessType: schemas.AccessModification, Data: reqData},
		Result:       schemas.AuditResult{Status: status, Data: resData},
		ResourceName: subject,
	}
	ev := cloudevents.NewEvent()
	ev.SetID(RecordID(r, m.Method, x.Type, resID))
	ev.SetSource(c.serviceName())
	ev.SetType(schemas.TypeRequest)
	ev.SetSubject(subject)
	ev.SetTime(r.Time)
	if err := ev.SetData(schemas.ContentTypeJSON, data); err != nil {
		return Record{}, fmt.Errorf("set data: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return Record{}, fmt.Errorf("validate event: %w", err)
	}
	return Record{Event: ev, Route: schemas.RouteInfo{
		Type:         schemas.TypeRequest,
		Method:       m.Method,
		Category:     m.Category,
		Subject:      subject,
		Principal:    r.Principal,
		Connection:   r.Connection,
		ResourceType: x.Type,
		ResourceName: resID,
		Status:       status,
		Authz:        authz,
		ErrorType:    errorType(x.ErrorCode),
	}}, nil
}

// principal renders a Kafka principal: from its directory entry when there
// is one, else by principalFallback. It also returns the Confluent id and
// whether the directory resolved it; only a resolved id is vouched for
// enough to name an identity CRN.
func principal(p string, l Lookups) (schemas.Principal, string, bool) {
	if l.Identity != nil {
		if id, ok := l.Identity(p); ok {
			ref := &schemas.ResourceID{ResourceID: id.ID}
			if id.Type == schemas.IdentityServiceAccount {
				return schemas.Principal{Email: id.Email, ConfluentServiceAccount: ref}, id.ID, true
			}
			return schemas.Principal{Email: id.Email, ConfluentUser: ref}, id.ID, true
		}
	}
	return principalFallback(p), "", false
}

// principalFallback renders a Kafka principal with no directory entry, so
// that a record always says who acted even before the directory knows
// them. A User principal named like a Confluent service account (sa-…)
// becomes a confluentServiceAccount with that id; every other principal
// becomes a confluentUser whose resourceId is the Kafka principal name
// for User principals (User:alice -> alice) and the whole principal for
// other types (Group:ops stays Group:ops), so the type is not lost. Such
// records carry no identity CRN: the id is Kafka's, not Confluent's.
func principalFallback(p string) schemas.Principal {
	name, isUser := strings.CutPrefix(p, "User:")
	if !isUser {
		name = p
	}
	if strings.HasPrefix(name, "sa-") {
		return schemas.Principal{ConfluentServiceAccount: &schemas.ResourceID{ResourceID: name}}
	}
	return schemas.Principal{ConfluentUser: &schemas.ResourceID{ResourceID: name}}
}

// defaultResult is the result.data most methods carry.
func defaultResult(code int16, message *string) any {
	return struct {
		Message   *string `json:"message"`
		ErrorCode int16   `json:"errorCode"`
		ErrorType string  `json:"errorType"`
	}{message, code, errorType(code)}
}
