package enrich

import (
	"encoding/json"
	"fmt"

	"github.com/kaudit/kaudit/schemas"
)

// outcome is what a response says about one named resource.
type outcome struct {
	code int16
	msg  *string
}

// configEntry is one {name, value} config of a CreateTopics or
// AlterConfigs request, and {name, configOperation, value} of an
// IncrementalAlterConfigs one; key order is the seed's.
type configEntry struct {
	Name            string      `json:"name"`
	ConfigOperation *configOpID `json:"configOperation,omitempty"`
	Value           *string     `json:"value"`
}

// maskConfigs hides the values of sensitive configs in place.
func maskConfigs(cs []configEntry) {
	for i := range cs {
		cs[i].Value = maskValue(cs[i].Name, cs[i].Value)
	}
}

func createTopicsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req schemas.CreateTopicsRequest
	var resp schemas.CreateTopicsResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	results := map[string]outcome{}
	for _, t := range resp.Topics {
		results[t.Name] = outcome{t.ErrorCode, t.ErrorMessage}
	}
	out := make([]resource, 0, len(req.Topics))
	for _, t := range req.Topics {
		var configs []configEntry
		if err := schemas.DecodeBody(t.Configs, &configs); err != nil {
			return nil, fmt.Errorf("topic %q configs: %w", t.Name, err)
		}
		maskConfigs(configs)
		if configs == nil {
			configs = []configEntry{}
		}
		res := results[t.Name]
		out = append(out, resource{
			Type: ResTopic, Name: t.Name, ErrorCode: res.code,
			Request: struct {
				Name              string          `json:"name"`
				NumPartitions     int32           `json:"numPartitions"`
				ReplicationFactor int16           `json:"replicationFactor"`
				Assignments       json.RawMessage `json:"assignments"`
				Configs           []configEntry   `json:"configs"`
				ValidateOnly      bool            `json:"validateOnly"`
			}{t.Name, t.NumPartitions, t.ReplicationFactor, orEmptyArray(t.Assignments), configs, req.ValidateOnly},
			Result: defaultResult(res.code, res.msg),
		})
	}
	return out, nil
}

func deleteTopicsResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	var req schemas.DeleteTopicsRequest
	var resp schemas.DeleteTopicsResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	byName, byID := map[string]int16{}, map[string]int16{}
	idName := map[string]string{} // a KRaft broker names what it deleted by id
	for _, t := range resp.Responses {
		if t.Name != nil {
			byName[*t.Name] = t.ErrorCode
		}
		if t.TopicID != "" && t.TopicID != schemas.ZeroUUID {
			byID[t.TopicID] = t.ErrorCode
			if t.Name != nil {
				idName[t.TopicID] = *t.Name
			}
		}
	}
	var out []resource
	add := func(name string, code int16) {
		out = append(out, resource{
			Type: ResTopic, Name: name, ErrorCode: code,
			Request: struct {
				Name string `json:"name"`
			}{name},
			// The seed's DeleteTopics records carry no message, even on
			// failure, although Kafka v5+ logs one.
			Result: defaultResult(code, nil),
		})
	}
	for _, n := range req.TopicNames { // v0–5
		add(n, byName[n])
	}
	for _, t := range req.Topics { // v6+: by name, or by id alone
		if t.Name != nil && *t.Name != "" {
			add(*t.Name, byName[*t.Name])
		} else {
			// The response's name first: the catalog learns this id from
			// this very response, which the re-key audits before the
			// catalog has it.
			add(topicName(r, l, idName[t.TopicID], t.TopicID), byID[t.TopicID])
		}
	}
	return out, nil
}

func createPartitionsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req struct {
		Topics []struct {
			Name        string          `json:"name"`
			Count       int32           `json:"count"`
			Assignments json.RawMessage `json:"assignments"`
		} `json:"topics"`
		ValidateOnly bool `json:"validateOnly"`
	}
	var resp struct {
		Results []struct {
			Name         string  `json:"name"`
			ErrorCode    int16   `json:"errorCode"`
			ErrorMessage *string `json:"errorMessage"`
		} `json:"results"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	results := map[string]outcome{}
	for _, t := range resp.Results {
		results[t.Name] = outcome{t.ErrorCode, t.ErrorMessage}
	}
	out := make([]resource, 0, len(req.Topics))
	for _, t := range req.Topics {
		res := results[t.Name]
		out = append(out, resource{
			Type: ResTopic, Name: t.Name, ErrorCode: res.code,
			Request: struct {
				Name         string          `json:"name"`
				Count        int32           `json:"count"`
				Assignments  json.RawMessage `json:"assignments"`
				ValidateOnly bool            `json:"validateOnly"`
			}{t.Name, t.Count, orNull(t.Assignments), req.ValidateOnly},
			Result: defaultResult(res.code, res.msg),
		})
	}
	return out, nil
}

func deleteGroupsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req struct {
		GroupsNames []string `json:"groupsNames"`
	}
	var resp struct {
		Results []struct {
			GroupID   string `json:"groupId"`
			ErrorCode int16  `json:"errorCode"`
		} `json:"results"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	codes := map[string]int16{}
	for _, g := range resp.Results {
		codes[g.GroupID] = g.ErrorCode
	}
	out := make([]resource, 0, len(req.GroupsNames))
	for _, g := range req.GroupsNames {
		code := codes[g]
		// Kafka's DeleteGroups response has no message; the seed writes "".
		empty := ""
		out = append(out, resource{
			Type: ResGroup, Name: g, ErrorCode: code,
			Request: struct {
				GroupName string `json:"groupName"`
			}{g},
			Result: defaultResult(code, &empty),
		})
	}
	return out, nil
}

// aclBinding is one CreateAcls creation, and one DeleteAcls matching ACL
// (which adds its own errorCode and errorMessage first). Enums marshal as
// their names; key order is the seed's.
type aclBinding struct {
	ResourceType   aclResourceTypeID   `json:"resourceType"`
	ResourceName   string              `json:"resourceName"`
	PatternType    *aclPatternTypeID   `json:"resourcePatternType"`
	Principal      string              `json:"principal"`
	Host           string              `json:"host"`
	Operation      aclOperationID      `json:"operation"`
	PermissionType aclPermissionTypeID `json:"permissionType"`
}

// aclResult is one CreateAcls result, positional to the creations.
type aclResult struct {
	ErrorCode    int16   `json:"errorCode"`
	ErrorMessage *string `json:"errorMessage"`
}

// literalIfNil fills the pattern type v0 requests do not carry.
func literalIfNil(p **aclPatternTypeID) {
	if *p == nil {
		lit := aclPatternTypeID(patternLiteral)
		*p = &lit
	}
}

func createAclsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req struct {
		Creations []aclBinding `json:"creations"`
	}
	var resp struct {
		Results []aclResult `json:"results"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	codes := make([]int16, 0, len(resp.Results))
	for _, res := range resp.Results {
		codes = append(codes, res.ErrorCode)
	}
	for i := range req.Creations {
		literalIfNil(&req.Creations[i].PatternType)
	}
	if req.Creations == nil {
		req.Creations = []aclBinding{}
	}
	if resp.Results == nil {
		resp.Results = []aclResult{}
	}
	return onCluster(firstError(codes...), req, resp), nil
}

func deleteAclsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	type filter struct {
		ResourceType   aclResourceTypeID   `json:"resourceTypeFilter"`
		ResourceName   *string             `json:"resourceNameFilter"`
		PatternType    *aclPatternTypeID   `json:"patternTypeFilter"`
		Principal      *string             `json:"principalFilter"`
		Host           *string             `json:"hostFilter"`
		Operation      aclOperationID      `json:"operation"`
		PermissionType aclPermissionTypeID `json:"permissionType"`
	}
	type matchingACL struct {
		ErrorCode      int16               `json:"errorCode"`
		ErrorMessage   *string             `json:"errorMessage"`
		ResourceType   aclResourceTypeID   `json:"resourceType"`
		ResourceName   string              `json:"resourceName"`
		PatternType    *aclPatternTypeID   `json:"patternType"`
		Principal      string              `json:"principal"`
		Host           string              `json:"host"`
		Operation      aclOperationID      `json:"operation"`
		PermissionType aclPermissionTypeID `json:"permissionType"`
	}
	type filterResult struct {
		ErrorCode    int16         `json:"errorCode"`
		ErrorMessage *string       `json:"errorMessage"`
		MatchingAcls []matchingACL `json:"matchingAcls"`
	}
	var req struct {
		Filters []filter `json:"filters"`
	}
	var resp struct {
		FilterResults []filterResult `json:"filterResults"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	for i := range req.Filters {
		literalIfNil(&req.Filters[i].PatternType)
	}
	var codes []int16
	for i := range resp.FilterResults {
		f := &resp.FilterResults[i]
		codes = append(codes, f.ErrorCode)
		for j := range f.MatchingAcls {
			literalIfNil(&f.MatchingAcls[j].PatternType)
			codes = append(codes, f.MatchingAcls[j].ErrorCode)
		}
		if f.MatchingAcls == nil {
			f.MatchingAcls = []matchingACL{}
		}
	}
	if req.Filters == nil {
		req.Filters = []filter{}
	}
	if resp.FilterResults == nil {
		resp.FilterResults = []filterResult{}
	}
	return onCluster(firstError(codes...), req, resp), nil
}

// alterConfigsResources maps AlterConfigs and IncrementalAlterConfigs:
// their bodies differ only in configOperation, which configEntry omits
// when absent. The seed audits both on the cluster, even for topic
// configs, with the resource named inside request.data.
func alterConfigsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	type configResource struct {
		ResourceType configResourceTypeID `json:"resourceType"`
		ResourceName string               `json:"resourceName"`
		Configs      []configEntry        `json:"configs"`
	}
	type configResult struct {
		ErrorCode    int16                `json:"errorCode"`
		ErrorMessage *string              `json:"errorMessage"`
		ResourceType configResourceTypeID `json:"resourceType"`
		ResourceName string               `json:"resourceName"`
	}
	var req struct {
		Resources    []configResource `json:"resources"`
		ValidateOnly bool             `json:"validateOnly"`
	}
	var resp struct {
		Responses []configResult `json:"responses"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	for i := range req.Resources {
		maskConfigs(req.Resources[i].Configs)
		if req.Resources[i].Configs == nil {
			req.Resources[i].Configs = []configEntry{}
		}
	}
	codes := make([]int16, 0, len(resp.Responses))
	for _, res := range resp.Responses {
		codes = append(codes, res.ErrorCode)
	}
	if req.Resources == nil {
		req.Resources = []configResource{}
	}
	if resp.Responses == nil {
		resp.Responses = []configResult{}
	}
	return onCluster(firstError(codes...), req, resp), nil
}
