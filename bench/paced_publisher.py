#!/usr/bin/env python3
"""Paced batch publisher for bench/delivery_bench.sh (--publisher batch).

Publishes events of type "bench.event" (the payload of bench/publish_event.lua)
in batches (POST /v1/webhook/events/batch, issue 19) for DURATION seconds,
from THREADS keep-alive connections, but only while the deliveries not yet
counted by the sink (accepted events x ENDPOINTS - sink count) stay under
BACKLOG: the publishers follow what the engine drains, so the server spends
no CPU on 429s. Prints events_accepted=N, events_refused=N, batches=N.

Usage: paced_publisher.py BASE_URL TOKEN SINK_URL DURATION ENDPOINTS
                          [--batch 100] [--backlog 20000] [--threads 4]
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse

PAYLOAD = ('{"order_id":123456,"customer":"bench-customer-0001",'
           '"amount_cents":4999,"currency":"EUR","items":[{"sku":"sku-0001",'
           '"qty":2},{"sku":"sku-0002","qty":1}],'
           '"note":"delivery benchmark payload"}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("token")
    p.add_argument("sink")
    p.add_argument("duration", type=float)
    p.add_argument("endpoints", type=int)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--backlog", type=int, default=20000)
    p.add_argument("--threads", type=int, default=4)
    a = p.parse_args()
    base = urllib.parse.urlsplit(a.base)
    sink = urllib.parse.urlsplit(a.sink)
    event = '{"event_type":"bench.event","payload":' + PAYLOAD + '}'
    body = '{"events":[' + ",".join([event] * a.batch) + ']}'
    headers = {"Authorization": "Bearer " + a.token,
               "Content-Type": "application/json"}

    lock = threading.Lock()
    state = {"accepted": 0, "refused": 0, "batches": 0, "delivered": 0,
             "errors": 0}
    sink_conn = http.client.HTTPConnection(sink.hostname, sink.port, timeout=10)

    def sink_count():
        sink_conn.request("GET", "/count")
        r = sink_conn.getresponse()
        return int(r.read())

    base_count = sink_count()
    deadline = time.monotonic() + a.duration
    stop = threading.Event()

    def poll_sink():
        while not stop.is_set():
            n = sink_count() - base_count
            with lock:
                state["delivered"] = n
            time.sleep(0.01)

    def publish():
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                backlog = state["accepted"] * a.endpoints - state["delivered"]
            if backlog + a.batch * a.endpoints > a.backlog:
                time.sleep(0.002)
                continue
            conn.request("POST", "/v1/webhook/events/batch", body=body,
                         headers=headers)
            r = conn.getresponse()
            data = r.read()
            with lock:
                state["batches"] += 1
                if r.status != 202:
                    state["errors"] += 1
                    continue
                d = json.loads(data)["data"]
                state["accepted"] += d["accepted"]
                state["refused"] += d["refused"]

    poller = threading.Thread(target=poll_sink)
    poller.start()
    workers = [threading.Thread(target=publish) for _ in range(a.threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    poller.join()
    print("events_accepted=%d" % state["accepted"])
    print("events_refused=%d" % state["refused"])
    print("batches=%d" % state["batches"])
    print("batch_errors=%d" % state["errors"])


if __name__ == "__main__":
    main()
