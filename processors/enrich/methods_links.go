package enrich

import (
	"encoding/json"

	"github.com/kaudit/kaudit/schemas"
)

// Cluster linking APIs exist only in Confluent Server (FORMATS.md A.7), so
// Apache Kafka's request log never holds them and their logged JSON is not
// public. The bodies below are inferred: field names and order from the
// seed's request.data/result.data, list names from Confluent's 2020
// message schemas (CreateClusterLinksRequest.json, apiKey 10002:
// {entries[]{linkName, clusterId, configs[]{key, value}}, validateOnly,
// validateLink, timeoutMs}; DeleteClusterLinksRequest.json, 10004:
// {linkNames[], validateOnly, force}; responses {throttleTimeMs,
// entries[]{errorCode, errorMessage, linkName}}), plus the fields the
// seed shows that those schemas predate (linkId; AlterMirrors'
// mirrorOperations/results). If a broker logs another shape, the decode
// fails and the line is dead-lettered rather than audited wrongly.

// linkEntry is one CreateClusterLinks entry as assumed logged.
type linkEntry struct {
	LinkName  string       `json:"linkName"`
	LinkID    string       `json:"linkId"`
	ClusterID *string      `json:"clusterId"`
	Configs   []linkConfig `json:"configs"`
}

// linkConfig is one cluster-link config; link configs carry the source
// cluster's credentials (sasl.jaas.config), so values are masked.
type linkConfig struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// linkResult is one entry of a cluster-link response as assumed logged.
type linkResult struct {
	ErrorCode    int16   `json:"errorCode"`
	ErrorMessage *string `json:"errorMessage"`
	LinkName     string  `json:"linkName"`
	LinkID       string  `json:"linkId"`
}

// linkResults indexes a cluster-link response by link name.
func linkResults(entries []linkResult) map[string]linkResult {
	m := make(map[string]linkResult, len(entries))
	for _, e := range entries {
		m[e.LinkName] = e
	}
	return m
}

// createClusterLinksResources yields one CLUSTER_LINK record per entry.
// An entry without linkId gets Kafka's zero UUID, as the seed's requests
// show; result.linkId is the response's (the id the link got), else the
// request's.
func createClusterLinksResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req struct {
		Entries      []linkEntry `json:"entries"`
		ValidateOnly bool        `json:"validateOnly"`
		ValidateLink bool        `json:"validateLink"`
	}
	var resp struct {
		Entries []linkResult `json:"entries"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	results := linkResults(resp.Entries)
	out := make([]resource, 0, len(req.Entries))
	for _, e := range req.Entries {
		if e.LinkID == "" {
			e.LinkID = schemas.ZeroUUID
		}
		for i := range e.Configs {
			e.Configs[i].Value = maskValue(e.Configs[i].Key, e.Configs[i].Value)
		}
		if e.Configs == nil {
			e.Configs = []linkConfig{}
		}
		res := results[e.LinkName]
		linkID := res.LinkID
		if linkID == "" {
			linkID = e.LinkID
		}
		out = append(out, resource{
			Type: ResClusterLink, Name: e.LinkName, ErrorCode: res.ErrorCode,
			Request: struct {
				linkEntry
				ValidateOnly bool `json:"validateOnly"`
				ValidateLink bool `json:"validateLink"`
			}{e, req.ValidateOnly, req.ValidateLink},
			Result: struct {
				Message   string `json:"message"`
				ErrorCode int16  `json:"errorCode"`
				ErrorType string `json:"errorType"`
				LinkName  string `json:"linkName"`
				LinkID    string `json:"linkId"`
			}{orEmpty(res.ErrorMessage), res.ErrorCode, errorType(res.ErrorCode), e.LinkName, linkID},
		})
	}
	return out, nil
}

// deleteClusterLinksResources yields one CLUSTER_LINK record per name.
func deleteClusterLinksResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req struct {
		LinkNames    []string `json:"linkNames"`
		ValidateOnly bool     `json:"validateOnly"`
		Force        bool     `json:"force"`
	}
	var resp struct {
		Entries []linkResult `json:"entries"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	results := linkResults(resp.Entries)
	out := make([]resource, 0, len(req.LinkNames))
	for _, name := range req.LinkNames {
		res := results[name]
		msg := orEmpty(res.ErrorMessage)
		out = append(out, resource{
			Type: ResClusterLink, Name: name, ErrorCode: res.ErrorCode,
			Request: struct {
				LinkName     string `json:"linkName"`
				ValidateOnly bool   `json:"validateOnly"`
				Force        bool   `json:"force"`
			}{name, req.ValidateOnly, req.Force},
			Result: defaultResult(res.ErrorCode, &msg),
		})
	}
	return out, nil
}

// alterMirrorsResources yields one record on the cluster, as the seed
// does. Assumed logged body: request {mirrorOperations[]{topic,
// operationCode}, validateOnly, timeoutMs}, response {throttleTimeMs,
// results[]{errorCode, errorMessage, topic}}. operationCode is passed
// through as logged: the seed shows names (CLEAR, FAILOVER) and
// Confluent's code table is not public.
func alterMirrorsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	type mirrorOp struct {
		Topic         string          `json:"topic"`
		OperationCode json.RawMessage `json:"operationCode"`
	}
	type mirrorResult struct {
		ErrorCode    int16   `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
		Topic        string  `json:"topic"`
	}
	var req struct {
		MirrorOperations []mirrorOp `json:"mirrorOperations"`
		ValidateOnly     bool       `json:"validateOnly"`
		TimeoutMs        int32      `json:"timeoutMs"`
	}
	var resp struct {
		Results []mirrorResult `json:"results"`
	}
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	for i := range req.MirrorOperations {
		req.MirrorOperations[i].OperationCode = orNull(req.MirrorOperations[i].OperationCode)
	}
	codes := make([]int16, 0, len(resp.Results))
	for _, res := range resp.Results {
		codes = append(codes, res.ErrorCode)
	}
	if req.MirrorOperations == nil {
		req.MirrorOperations = []mirrorOp{}
	}
	if resp.Results == nil {
		resp.Results = []mirrorResult{}
	}
	return onCluster(firstError(codes...), req, resp), nil
}
