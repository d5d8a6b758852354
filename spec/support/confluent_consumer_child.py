"""One consumer-group member on librdkafka (confluent-kafka for Python), the peer of
spec/support/consumer_child.rb in the mixed-group spec (spec/integration/consumer_interop_spec.rb).

Takes the same JSON settings and writes the same files, each line flushed at once:
- "processed": "<partition> <offset> <CLOCK_MONOTONIC seconds> <value>" per message, after its
  processing;
- "events": JSON lines {"event": "assigned"|"revoked", "partitions": [...], "assignment": [...]},
  {"event": "committed", "offsets": {...}} (librdkafka's auto-commit callback),
  {"event": "stopped"}, {"event": "error", ...}.
Offsets are committed at least once: librdkafka auto-commits every offset_commit_interval the
offsets stored, and an offset is stored only after its message is processed. SIGTERM closes the
consumer (commit, leave the group).
"""

import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException

settings = json.loads(sys.argv[1])
opts = settings["consumer"]
processed = open(settings["processed"], "a", buffering=1)
events = open(settings["events"], "a", buffering=1)


def event(**fields):
    fields["t"] = time.monotonic()
    events.write(json.dumps(fields) + "\n")


def log(line):
    sys.stderr.write("%s %s: %s\n" % (time.strftime("%H:%M:%S"), settings["name"], line))
    sys.stderr.flush()


def on_commit(err, partitions):
    if err is not None:
        log("commit failed: %s" % err)
        return
    offsets = {str(p.partition): p.offset for p in partitions if p.error is None and p.offset >= 0}
    if offsets:
        event(event="committed", offsets=offsets)


config = {
    "bootstrap.servers": ",".join(settings["brokers"]),
    "client.id": "confluent-child-" + settings["name"],
    "group.id": settings["group"],
    "partition.assignment.strategy": "range",
    "session.timeout.ms": int(opts["session_timeout"] * 1000),
    "heartbeat.interval.ms": int(opts["heartbeat_interval"] * 1000),
    "max.poll.interval.ms": int(opts["rebalance_timeout"] * 1000),
    "auto.commit.interval.ms": int(opts["offset_commit_interval"] * 1000),
    "enable.auto.commit": True,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "on_commit": on_commit,
}
consumer = Consumer(config, logger=None)
running = True


def stop(_signum, _frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def assignment():
    return sorted(p.partition for p in consumer.assignment())


def on_assign(c, partitions):
    # Called before the assignment takes effect: what the member owns afterwards is its old
    # assignment (empty with the eager range assignor) plus these.
    event(event="assigned", partitions=[p.partition for p in partitions],
          assignment=sorted(set(assignment()) | {p.partition for p in partitions}))
    log("assigned %s" % [p.partition for p in partitions])


def on_revoke(c, partitions):
    event(event="revoked", partitions=[p.partition for p in partitions],
          assignment=sorted(set(assignment()) - {p.partition for p in partitions}))
    log("revoked %s" % [p.partition for p in partitions])


consumer.subscribe([settings["topic"]], on_assign=on_assign, on_revoke=on_revoke)
delay = float(settings.get("delay", 0))
try:
    while running:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            log("poll: %s" % m.error())
            continue
        if delay > 0:
            time.sleep(delay)
        processed.write("%d %d %.4f %s\n" % (m.partition(), m.offset(), time.monotonic(), m.value().decode()))
        consumer.store_offsets(message=m)
    consumer.close()
    event(event="stopped")
except KafkaException as e:
    event(event="error", error=str(e))
    log("error: %s" % e)
    sys.exit(1)
