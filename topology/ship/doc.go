// Package ship tails a broker's request log (kafka.request.logger) and
// produces each line to kaudit's raw topic, the way a log shipper does.
//
// It follows log4j's hourly rotation (kafka-request.log renamed to
// kafka-request.log.YYYY-MM-DD-HH) and log4j2's rolling files (renamed to
// .1, -%d{...}-%i, possibly gzipped): a rotation is seen as a change of the
// live path's identity (device and inode), and the old file is drained to
// its end before the next one is read. A checkpoint file holds the identity
// of the file being read (device, inode and a hash of its first bytes) and
// the offset after the last line Kafka acknowledged, so a restart resumes
// where the previous run stopped, even if the file was rotated meanwhile.
//
// Lines are keyed by their connection id, so one connection's requests stay
// in order on one partition, and carry the headers kaudit-cluster,
// kaudit-broker-id and kaudit-host.
package ship
