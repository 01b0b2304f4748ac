// Package topology is kaudit's composition root: it names every stream,
// table and group, declares each goka group graph, and runs them with the
// views and the HTTP server.
//
//	kafka-request-log ──► kaudit-rekey ──► kaudit-rekeyed ──► kaudit-dedup
//	 (raw lines, any key)   parse, re-key    (keyed by         kaudit-dedup-table: first Produce/Fetch
//	                        │ admin requests  connection)       │ and denials
//	                        ▼                                   ▼
//	          enrich → CloudEvent → route          enrich → CloudEvent → route
//	                        │                                   │
//	                        └──► confluent-audit-log-events (…) ◄┘    bad lines ─► kaudit-dead-letter
package topology
