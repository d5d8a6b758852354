"""Reads a whole topic from the beginning with confluent-kafka (librdkafka) in a consumer group and prints one JSON line.

    python confluent_consume.py BROKERS TOPIC GROUP_ID COUNTS BATCH TIMEOUT [KEY=VALUE ...]

COUNTS is a comma-separated list of the messages in each partition (partition 0 first); the
reader stops when it has seen that many. BATCH is num_messages per Consumer.consume() call.
KEY=VALUE arguments are added to the consumer's configuration (librdkafka property names).

The clock (wall and this process's CPU, every thread) starts before the Consumer is made, so it
includes connecting and joining the group, and stops when the last expected message has been
seen. Every message is checked as the Ruby readers check theirs: no error, its offset is the
next of its partition (no gap, no repeat), its value's length is added up. Closing the consumer
(leaving the group) happens after the clock. Run by bench/consume.
"""

import json
import sys
import time

from confluent_kafka import Consumer, libversion, version


def first(v):
    """version() and libversion() return (string, int) tuples; older builds a string."""
    return v[0] if isinstance(v, tuple) else v


def main():
    brokers, topic, group_id, counts, batch, timeout = sys.argv[1:7]
    extra = dict(arg.split("=", 1) for arg in sys.argv[7:])
    counts = [int(c) for c in counts.split(",")]
    total, batch, deadline_secs = sum(counts), int(batch), float(timeout)
    nxt = [0] * len(counts)
    seen = gaps = value_bytes = errors = 0
    first_error = None
    first_message = None

    t0, c0 = time.perf_counter(), time.process_time()
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        **extra,
    })
    consumer.subscribe([topic])
    consume = consumer.consume
    deadline = t0 + deadline_secs
    secs = cpu = None
    while seen < total:
        if time.perf_counter() > deadline:
            break
        msgs = consume(num_messages=batch, timeout=1.0)
        if not msgs:
            continue
        if first_message is None:
            first_message = time.perf_counter() - t0
        for m in msgs:
            if m.error() is not None:
                errors += 1
                first_error = first_error or str(m.error())
                continue
            p, o = m.partition(), m.offset()
            if o != nxt[p]:
                gaps += 1
            nxt[p] = o + 1
            value_bytes += len(m.value())
            seen += 1
        if seen >= total:
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    consumer.close()

    print(json.dumps({
        "secs": secs, "cpu": cpu, "seen": seen, "gaps": gaps, "bytes": value_bytes, "next": nxt,
        "errors": errors, "first_error": first_error, "first_message": first_message,
        "version": first(version()), "librdkafka": first(libversion()),
    }))


if __name__ == "__main__":
    main()
