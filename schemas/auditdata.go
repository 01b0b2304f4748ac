package schemas

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/lovoo/goka"
)

//go:embed auditdata.avsc
var auditDataSchema string

var auditDataAvro = avroCodec(auditDataSchema)

// AuditDataSchema is the Avro schema of the avro destination encoding.
func AuditDataSchema() string { return auditDataSchema }

// AuditDataCodec encodes *AuditData as Avro binary (auditdata.avsc).
type AuditDataCodec struct{}

var _ goka.Codec = (*AuditDataCodec)(nil)

// Encode implements goka.Codec.
func (*AuditDataCodec) Encode(value any) ([]byte, error) {
	d, ok := value.(*AuditData)
	if !ok || d == nil {
		return nil, fmt.Errorf("AuditDataCodec: cannot encode %T", value)
	}
	ref := func(r ResourceRef) map[string]any { return map[string]any{"type": r.Type, "resourceId": r.ResourceID} }
	resources := make([]any, len(d.CloudResources))
	for i, cr := range d.CloudResources {
		scope := make([]any, len(cr.Scope.Resources))
		for j, s := range cr.Scope.Resources {
			scope[j] = ref(s)
		}
		resources[i] = map[string]any{"scope": map[string]any{"resources": scope}, "resource": ref(cr.Resource)}
	}
	optID := func(r *ResourceID) any {
		if r == nil {
			return nil
		}
		return map[string]any{"string": r.ResourceID}
	}
	ips := make([]any, len(d.RequestMetadata.ClientAddress))
	for i, a := range d.RequestMetadata.ClientAddress {
		ips[i] = a.IP
	}
	p := d.AuthenticationInfo.Principal
	return avroEncode(auditDataAvro, map[string]any{
		"serviceName":    d.ServiceName,
		"methodName":     d.MethodName,
		"cloudResources": resources,
		"authenticationInfo": map[string]any{
			"principal": map[string]any{
				"email": p.Email, "confluentUser": optID(p.ConfluentUser), "confluentServiceAccount": optID(p.ConfluentServiceAccount),
			},
			"result": d.AuthenticationInfo.Result, "identity": d.AuthenticationInfo.Identity,
		},
		"authorizationInfo": map[string]any{"result": d.AuthorizationInfo.Result},
		"requestMetadata": map[string]any{
			"connectionId": d.RequestMetadata.ConnectionID, "requestId": stringsToNative(d.RequestMetadata.RequestID),
			"clientId": d.RequestMetadata.ClientID, "clientAddress": ips,
		},
		"request":      map[string]any{"accessType": d.Request.AccessType, "data": string(d.Request.Data)},
		"result":       map[string]any{"status": d.Result.Status, "data": string(d.Result.Data)},
		"resourceName": d.ResourceName,
	})
}

// Decode implements goka.Codec.
func (*AuditDataCodec) Decode(data []byte) (any, error) {
	m, err := avroDecode(auditDataAvro, data)
	if err != nil {
		return nil, fmt.Errorf("AuditDataCodec: %w", err)
	}
	ref := func(v any) ResourceRef {
		r, _ := v.(map[string]any)
		t, _ := r["type"].(string)
		id, _ := r["resourceId"].(string)
		return ResourceRef{Type: t, ResourceID: id}
	}
	d := &AuditData{ServiceName: str(m["serviceName"]), MethodName: str(m["methodName"]), ResourceName: str(m["resourceName"])}
	for _, v := range m["cloudResources"].([]any) {
		cr := v.(map[string]any)
		var scope []ResourceRef
		for _, s := range cr["scope"].(map[string]any)["resources"].([]any) {
			scope = append(scope, ref(s))
		}
		d.CloudResources = append(d.CloudResources, CloudResource{Scope: Scope{Resources: scope}, Resource: ref(cr["resource"])})
	}
	ai := m["authenticationInfo"].(map[string]any)
	pm := ai["principal"].(map[string]any)
	optID := func(v any) *ResourceID {
		u, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		return &ResourceID{ResourceID: str(u["string"])}
	}
	d.AuthenticationInfo = AuthenticationInfo{
		Principal: Principal{Email: str(pm["email"]), ConfluentUser: optID(pm["confluentUser"]), ConfluentServiceAccount: optID(pm["confluentServiceAccount"])},
		Result:    str(ai["result"]), Identity: str(ai["identity"]),
	}
	d.AuthorizationInfo.Result = str(m["authorizationInfo"].(map[string]any)["result"])
	rm := m["requestMetadata"].(map[string]any)
	d.RequestMetadata = RequestMetadata{ConnectionID: str(rm["connectionId"]), RequestID: stringsFromNative(rm["requestId"]), ClientID: str(rm["clientId"])}
	for _, ip := range stringsFromNative(rm["clientAddress"]) {
		d.RequestMetadata.ClientAddress = append(d.RequestMetadata.ClientAddress, ClientAddress{IP: ip})
	}
	req := m["request"].(map[string]any)
	res := m["result"].(map[string]any)
	d.Request = AuditRequest{AccessType: str(req["accessType"]), Data: json.RawMessage(str(req["data"]))}
	d.Result = AuditResult{Status: str(res["status"]), Data: json.RawMessage(str(res["data"]))}
	return d, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
