package enrich

// confluentErrors names the Confluent Server error codes the seed shows.
// Confluent numbers its own errors from 10000 and does not publish the
// table, so only codes seen in real records are listed; any other code
// falls through to Kafka's table (and so to UNKNOWN_SERVER_ERROR).
var confluentErrors = map[int16]string{
	10000: "CLUSTER_LINK_NOT_FOUND", // seed 002, kafka.DeleteClusterLinks FAILURE
}

// errorType is result.data.errorType: Kafka's error name, or Confluent
// Server's for its own codes.
func errorType(code int16) string {
	if n, ok := confluentErrors[code]; ok {
		return n
	}
	return ErrorName(code)
}
