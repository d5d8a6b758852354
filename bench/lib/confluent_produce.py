"""Produces COUNT values of SIZE bytes with confluent-kafka (librdkafka) and prints one JSON line.

    python confluent_produce.py BROKERS TOPIC COUNT SIZE IDEMPOTENT(0|1)

The clock (wall and this process's CPU, every thread) starts before the first measured produce() and stops
when flush() returns with nothing left in the queue, that is when the broker has acknowledged every
message (acks=all). Delivery reports are asked for failures only (the fastest way to confirm every
delivery: flush() returning 0 and no failure report). A full local queue (BufferError) is waited
out with poll(), as librdkafka's docs prescribe. Run by bench/produce.
"""

import json
import sys
import time

from confluent_kafka import Producer, libversion, version


def first(v):
    """version() and libversion() return (string, int) tuples; older builds a string."""
    return v[0] if isinstance(v, tuple) else v


def main():
    brokers, topic, count, size, idempotent = sys.argv[1:6]
    count, size = int(count), int(size)
    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(str(err))

    producer = Producer({
        "bootstrap.servers": brokers,
        "acks": "all",
        "enable.idempotence": idempotent == "1",
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
    })
    value = b"x" * size
    # One message delivered before the clock starts: the connection, the topic's metadata and
    # (with idempotence) the producer id are then in place, as they are for the warmed-up Ruby
    # client. Without it a run often waits ~0.5 s for the producer id. It is reported as
    # "warmup" so that the topic's count can be checked.
    producer.produce(topic, value)
    if producer.flush(30) != 0 or failures:
        raise SystemExit(f"warm-up message not delivered: {failures}")
    produce, poll = producer.produce, producer.poll
    queue_full = 0

    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(count):
        while True:
            try:
                produce(topic, value)
                break
            except BufferError:
                queue_full += 1
                poll(0.001)
    left = producer.flush(120)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(json.dumps({
        "secs": secs, "cpu": cpu, "left": left, "warmup": 1, "failures": len(failures),
        "first_failure": failures[0] if failures else None, "queue_full": queue_full,
        "version": first(version()), "librdkafka": first(libversion()),
    }))


if __name__ == "__main__":
    main()
