// Package topology is kaudit's composition root: it names every stream,
// table and group, declares each goka group graph, and runs them with the
// views and the HTTP server.
//
//	kafka-request-log ──► kaudit-dedup ──(loop, keyed by connection)──► kaudit-dedup
//	 (raw lines, any key)   parse, re-key      kaudit-dedup-table: first Produce/Fetch
//	                        │ bad lines                            │ kept requests
//	                        ▼                                      ▼
//	               kaudit-dead-letter ◄── kaudit-audit ◄──── kaudit-requests
//	                                       enrich → CloudEvent → route
//	                                           ▼
//	                              confluent-audit-log-events (…)
package topology
