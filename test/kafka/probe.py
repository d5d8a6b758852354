#!/usr/bin/env python3
"""Readiness probe for the test Kafka brokers started by bin/kafka.

Usage: probe.py HOST:PORT [MIN_BROKERS]

Sends an ApiVersions v0 request and then a Metadata v4 request (for no
topics) to HOST:PORT. Exits 0 when both answer with the correlation id that
was sent, ApiVersions reports no error, and the Metadata response lists at
least MIN_BROKERS (default 1) brokers. Prints a one-line reason otherwise and
exits 1. Only the standard library is used.

Request versions are chosen to be served by every broker from 2.x through
4.x: ApiVersions v0 can never be removed, and Metadata v4 is the oldest
version that Kafka 4.0 still accepts (KIP-896 dropped v0-v3).
"""
import socket
import struct
import sys

TIMEOUT = 3.0
CLIENT_ID = b"kafka-rs-probe"


def request(sock, api_key, api_version, correlation_id, body):
    # Request header v1: api_key, api_version, correlation_id, client_id.
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    if size < 4 or size > 64 * 1024 * 1024:
        raise ValueError("implausible response size %d" % size)
    data = recv_exact(sock, size)
    got = struct.unpack(">i", data[:4])[0]
    if got != correlation_id:
        raise ValueError("correlation id mismatch: sent %d, got %d" % (correlation_id, got))
    return data[4:]


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def main(argv):
    if len(argv) < 2:
        print("usage: probe.py HOST:PORT [MIN_BROKERS]", file=sys.stderr)
        return 2
    host, _, port = argv[1].rpartition(":")
    min_brokers = int(argv[2]) if len(argv) > 2 else 1
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            # ApiVersions v0 (key 18): empty body; response starts with error_code.
            body = request(sock, 18, 0, 0x4B52_0001, b"")
            error_code = struct.unpack(">h", body[:2])[0]
            if error_code != 0:
                print("ApiVersions error code %d" % error_code)
                return 1
            # Metadata v4 (key 3): topics = [] (none), allow_auto_topic_creation = false.
            body = request(sock, 3, 4, 0x4B52_0002, struct.pack(">ib", 0, 0))
            # Response v4: throttle_time_ms int32, then the brokers array length.
            brokers = struct.unpack(">i", body[4:8])[0]
    except (OSError, ValueError, struct.error) as exc:
        print("%s: %s" % (argv[1], exc))
        return 1
    if brokers < min_brokers:
        print("%s: %d broker(s) registered, waiting for %d" % (argv[1], brokers, min_brokers))
        return 1
    print("%s: ok, %d broker(s)" % (argv[1], brokers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
