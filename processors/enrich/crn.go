package enrich

import (
	"strings"

	"github.com/kaudit/kaudit/schemas"
)

// Resource types as Confluent's cloudResources name them.
const (
	ResOrganization = "ORGANIZATION"
	ResEnvironment  = "ENVIRONMENT"
	ResCloudCluster = "CLOUD_CLUSTER"
	ResKafkaCluster = "KAFKA_CLUSTER"
	ResTopic        = "TOPIC"
	ResGroup        = "GROUP"
	ResClusterLink  = "CLUSTER_LINK"
	ResTxnID        = "TRANSACTIONAL_ID"
)

// crnElement is the CRN path element of each sub-cluster resource type.
var crnElement = map[string]string{
	ResTopic:       "topic",
	ResGroup:       "group",
	ResClusterLink: "link",
	ResTxnID:       "transactional-id",
}

// serviceName is `crn://<authority>/`, the seed's serviceName and source.
func (c Cluster) serviceName() string { return "crn://" + c.CRNAuthority + "/" }

// clusterScope is the hierarchy down to and including the Kafka cluster,
// with the CRN that names it.
func (c Cluster) clusterScope() (string, []schemas.ResourceRef) {
	var b strings.Builder
	b.WriteString(c.serviceName())
	refs := []schemas.ResourceRef{} // [] rather than null without a Cloud scope
	for _, p := range []struct{ typ, elem, id string }{
		{ResOrganization, "organization", c.Organization},
		{ResEnvironment, "environment", c.Environment},
		{ResCloudCluster, "cloud-cluster", c.CloudCluster},
	} {
		if p.id == "" {
			continue
		}
		b.WriteString(p.elem + "=" + escapeCRN(p.id) + "/")
		refs = append(refs, schemas.ResourceRef{Type: p.typ, ResourceID: p.id})
	}
	b.WriteString("kafka=" + escapeCRN(c.ID))
	return b.String(), refs
}

// resourceCRN returns a resource's CRN and the cloudResources scope above
// it. A KAFKA_CLUSTER resource is the cluster itself.
func (c Cluster) resourceCRN(typ, name string) (string, []schemas.ResourceRef) {
	crn, scope := c.clusterScope()
	elem, ok := crnElement[typ]
	if !ok {
		return crn, scope
	}
	scope = append(scope, schemas.ResourceRef{Type: ResKafkaCluster, ResourceID: c.ID})
	return crn + "/" + elem + "=" + escapeCRN(name), scope
}

// identityCRN names a Confluent identity as the seed's Produce and Fetch
// records do: crn://<authority>/organization=<o>/identity-provider=Confluent/identity=<id>.
func (c Cluster) identityCRN(id string) string {
	return c.serviceName() + "organization=" + escapeCRN(c.Organization) +
		"/identity-provider=Confluent/identity=" + escapeCRN(id)
}

// crnEscaper percent-encodes the characters that would split a CRN path.
var crnEscaper = strings.NewReplacer("%", "%25", "/", "%2F", "=", "%3D")

// escapeCRN makes a name safe as one CRN path value: '/' would start a new
// element and '=' would split key from value, so both are percent-encoded,
// and '%' too so that an encoded name decodes back unambiguously (Confluent
// CRNs use the same %2A-style escapes, FORMATS.md B.8).
func escapeCRN(s string) string { return crnEscaper.Replace(s) }

// For returns the cluster description for a record's cluster id. A shipper
// can name the cluster per record (the kaudit-cluster header); CRNs then
// name that cluster, and a cloud-cluster scope that mirrors the configured
// id follows it.
func (c Cluster) For(id string) Cluster {
	if id == "" || id == c.ID {
		return c
	}
	if c.CloudCluster == c.ID {
		c.CloudCluster = id
	}
	c.ID = id
	return c
}
