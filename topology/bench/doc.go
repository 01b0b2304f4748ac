// Package bench is the harness behind `make bench` (`kaudit bench`): one
// run that measures kaudit side by side with a plain sarama copy, on the
// same embedded broker and the same generated request log.
//
// The broker (`kaudit broker`) and every kaudit instance (`kaudit run`) are
// separate OS processes, so kaudit's CPU time and RSS are read from /proc
// apart from the broker's and the harness's. The harness generates the
// workload (Generator), preloads it with franz-go, runs the baseline copy
// in-process with sarama (the client kaudit uses) and two goka yardsticks
// (a trivial processor and a read-only one, runGoka), then drives kaudit
// through its phases: throughput, latency at half load, a 1M-connection
// table, and recovery of that table from an empty and a warm state dir.
//
// It is a benchmark, not a test: nothing here fails on speed, and CI never
// runs it. The pure pieces (line shapes, workload mix, percentiles, /proc
// and /metrics parsing) have unit tests; the yardsticks are tested on the
// embedded broker for processing every line.
package bench
