#!/usr/bin/env bash
# Creates the Kafka topics ccpulse reads (its dead-letter topic, and the compacted topic its
# instances share their figures through), then checks that the
# event topics are co-partitioned: every event topic must have the same partition count,
# because ccpulse keeps per-partition state across topics (shared/spec/events.md) and
# refuses to start otherwise. Safe to run again: existing topics are kept as they are.
#
# Used by the `kafka-init` service of docker-compose.yml; against an existing cluster run
# it from any Kafka distribution (it calls kafka-topics.sh):
#
#   BOOTSTRAP_SERVER=broker1:9092 PARTITIONS=12 REPLICATION_FACTOR=3 \
#     deploy/kafka/create-topics.sh
#
# Environment (all optional):
#   BOOTSTRAP_SERVER    broker address                       (default localhost:9092)
#   PARTITIONS          partitions of each event topic       (default 6)
#   REPLICATION_FACTOR  replication factor of every topic    (default 1)
#   DLQ_PARTITIONS      partitions of the dead-letter topic  (default 1)
#   EVENT_TOPICS        space-separated event topics         (default cc.voice cc.chat cc.email cc.surveys cc.agents)
#   DLQ_TOPIC           dead-letter topic                    (default cc.dlq)
#   PARTIALS_TOPIC      compacted topic the ccpulse instances share figures through
#                                                            (default cc.partials)
#   COMMAND_CONFIG      client properties file (TLS/SASL), passed as --command-config
#   WAIT_SECONDS        how long to wait for the broker      (default 120)
#   KAFKA_TOPICS        the kafka-topics.sh to run           (default: from PATH, else /opt/kafka/bin)
set -euo pipefail

BOOTSTRAP_SERVER="${BOOTSTRAP_SERVER:-localhost:9092}"
PARTITIONS="${PARTITIONS:-6}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"
DLQ_PARTITIONS="${DLQ_PARTITIONS:-1}"
EVENT_TOPICS="${EVENT_TOPICS:-cc.voice cc.chat cc.email cc.surveys cc.agents}"
DLQ_TOPIC="${DLQ_TOPIC:-cc.dlq}"
PARTIALS_TOPIC="${PARTIALS_TOPIC:-cc.partials}"
WAIT_SECONDS="${WAIT_SECONDS:-120}"

if [ -z "${KAFKA_TOPICS:-}" ]; then
  if command -v kafka-topics.sh >/dev/null 2>&1; then
    KAFKA_TOPICS=kafka-topics.sh
  else
    KAFKA_TOPICS=/opt/kafka/bin/kafka-topics.sh
  fi
fi

kt() {
  if [ -n "${COMMAND_CONFIG:-}" ]; then
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVER" --command-config "$COMMAND_CONFIG" "$@"
  else
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVER" "$@"
  fi
}

echo "waiting for Kafka at $BOOTSTRAP_SERVER"
deadline=$((SECONDS + WAIT_SECONDS))
until kt --list >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "error: Kafka at $BOOTSTRAP_SERVER did not answer within ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 2
done

create() { # topic partitions [extra kafka-topics.sh arguments]
  echo "creating topic $1 ($2 partitions, replication factor $REPLICATION_FACTOR) unless it exists"
  kt --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor "$REPLICATION_FACTOR" "${@:3}"
}

partition_count() { # topic
  kt --describe --topic "$1" | sed -n 's/.*PartitionCount:[[:space:]]*\([0-9][0-9]*\).*/\1/p' | head -n 1
}

for topic in $EVENT_TOPICS; do
  create "$topic" "$PARTITIONS"
done
create "$DLQ_TOPIC" "$DLQ_PARTITIONS"
# One record per event partition, rewritten every second: compacted, and kept short.
create "$PARTIALS_TOPIC" 1 --config cleanup.policy=compact --config segment.ms=600000 \
  --config min.cleanable.dirty.ratio=0.1 --config delete.retention.ms=60000

# Co-partitioning check: the counts of the event topics must all be equal.
summary=""
first=""
mismatch=0
for topic in $EVENT_TOPICS; do
  count="$(partition_count "$topic")"
  if [ -z "$count" ]; then
    echo "error: cannot read the partition count of topic $topic" >&2
    exit 1
  fi
  summary="$summary $topic=$count"
  if [ -z "$first" ]; then
    first="$count"
  elif [ "$count" != "$first" ]; then
    mismatch=1
  fi
done

if [ "$mismatch" -ne 0 ]; then
  echo "error: the event topics are not co-partitioned (partition counts:$summary);" >&2
  echo "       ccpulse needs the same count on every event topic: recreate or add partitions" >&2
  echo "       (kafka-topics.sh --alter --partitions N) so that they match" >&2
  exit 1
fi
if [ "$first" != "$PARTITIONS" ]; then
  echo "note: the event topics already existed with $first partitions (asked for $PARTITIONS); kept"
fi
echo "topics ready, co-partitioned:$summary; dead-letter topic $DLQ_TOPIC; partials topic $PARTIALS_TOPIC"
