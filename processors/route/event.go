package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kaudit/kaudit/schemas"
)

// InfoFromEvent recovers the routing facts from a structured CloudEvent
// audit record, for `kaudit routes check`. A record does not carry the
// Kafka principal, only the identity it maps to; the principal is taken as
// User:<resourceId>, which is exact for principals without a directory
// entry (see the principal fallback) and an approximation otherwise.
func InfoFromEvent(raw []byte) (schemas.RouteInfo, error) {
	var ev struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Data    struct {
			MethodName     string `json:"methodName"`
			CloudResources []struct {
				Resource schemas.ResourceRef `json:"resource"`
			} `json:"cloudResources"`
			AuthenticationInfo struct {
				Principal json.RawMessage `json:"principal"`
			} `json:"authenticationInfo"`
			AuthorizationInfo schemas.AuthorizationInfo `json:"authorizationInfo"`
			RequestMetadata   struct {
				ConnectionID string `json:"connectionId"`
			} `json:"requestMetadata"`
			Result struct {
				Status string `json:"status"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return schemas.RouteInfo{}, fmt.Errorf("not a CloudEvent JSON record: %w", err)
	}
	if ev.Subject == "" || ev.Data.MethodName == "" {
		return schemas.RouteInfo{}, errors.New("record has no subject or data.methodName")
	}
	info := schemas.RouteInfo{
		Type: ev.Type, Method: ev.Data.MethodName, Category: schemas.LookupMethod(ev.Data.MethodName).Category,
		Subject: ev.Subject, Connection: ev.Data.RequestMetadata.ConnectionID,
		Status: ev.Data.Result.Status, Authz: ev.Data.AuthorizationInfo.Result,
		Principal: principalOf(ev.Data.AuthenticationInfo.Principal),
	}
	if len(ev.Data.CloudResources) > 0 {
		info.ResourceType = ev.Data.CloudResources[0].Resource.Type
		info.ResourceName = ev.Data.CloudResources[0].Resource.ResourceID
	}
	return info, nil
}

func principalOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s // Platform-style "User:alice"
	}
	var p schemas.Principal
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	for _, id := range []*schemas.ResourceID{p.ConfluentUser, p.ConfluentServiceAccount} {
		if id != nil {
			if strings.Contains(id.ResourceID, ":") {
				return id.ResourceID // a non-User principal kept whole
			}
			return "User:" + id.ResourceID
		}
	}
	return ""
}
