package schemas

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuditDataCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    AuditData
	}{
		{"user, cloud scope", AuditData{
			ServiceName: "crn://confluent.cloud/", MethodName: "kafka.CreateTopics",
			CloudResources:     []CloudResource{{Scope: Scope{Resources: []ResourceRef{{"ORGANIZATION", "o"}, {"KAFKA_CLUSTER", "lkc"}}}, Resource: ResourceRef{"TOPIC", "orders"}}},
			AuthenticationInfo: AuthenticationInfo{Principal: Principal{Email: "a@b", ConfluentUser: &ResourceID{"u-1"}}, Result: "SUCCESS", Identity: "crn://x"},
			AuthorizationInfo:  AuthorizationInfo{Result: "ALLOW"},
			RequestMetadata:    RequestMetadata{ConnectionID: "c", RequestID: []string{"3"}, ClientID: "admin", ClientAddress: []ClientAddress{{"1.2.3.4"}}},
			Request:            AuditRequest{AccessType: "MODIFICATION", Data: json.RawMessage(`{"name":"orders"}`)},
			Result:             AuditResult{Status: "SUCCESS", Data: json.RawMessage(`{"errorCode":0}`)},
			ResourceName:       "crn://confluent.cloud/kafka=lkc/topic=orders",
		}},
		{"service account, no scope", AuditData{
			MethodName: "kafka.Fetch", CloudResources: []CloudResource{{Resource: ResourceRef{"TOPIC", "t"}}},
			AuthenticationInfo: AuthenticationInfo{Principal: Principal{ConfluentServiceAccount: &ResourceID{"sa-1"}}},
			RequestMetadata:    RequestMetadata{RequestID: []string{"1"}},
			Request:            AuditRequest{Data: json.RawMessage(`null`)}, Result: AuditResult{Data: json.RawMessage(`{}`)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &AuditDataCodec{}
			b, err := c.Encode(&tc.d)
			require.NoError(t, err)
			got, err := c.Decode(b)
			require.NoError(t, err)
			want, err := json.Marshal(tc.d)
			require.NoError(t, err)
			have, err := json.Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(have))
		})
	}
	_, err := (&AuditDataCodec{}).Decode([]byte{1, 2, 3})
	require.Error(t, err)
}
