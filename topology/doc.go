// Package topology is kaudit's composition root: it names every stream,
// table and group, declares each goka group graph, and runs them with the
// views and the HTTP server.
//
//	kafka-request-log ──► kaudit-rekey ──► kaudit-rekeyed ──► kaudit-dedup
//	 (raw lines, any key)   parse, re-key    (keyed by        kaudit-dedup-table: the first
//	   │                    │                connection)      Produce and Fetch of each
//	   │                    │ admin requests                  connection, and denials, pass;
//	   │                    │ enrich → CloudEvent             later ones are counted
//	   │                    │ → route                         │ enrich → CloudEvent → route
//	   │                    ├──► kaudit-dead-letter           │
//	   │                    │    (bad lines)                  │
//	   │                    └──► confluent-audit-log-events ◄─┘
//	   │                         and routed topics (…)
//	   │ topic ids                  ▲ lookups (both groups)
//	   └─► kaudit-topic-ids ─► kaudit-catalog
//	       kaudit-principal-directory ─► kaudit-directory
//	   access (re-key, dedup), coalesced 1 s ─► kaudit-topics, kaudit-principals   (query tables)
package topology
