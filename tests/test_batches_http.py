"""The runner's HTTP client against a scripted server on 127.0.0.1, and the batch format helpers."""
from __future__ import annotations

import asyncio

import pytest

from batch_runner.http import ConnectionPool, HttpError, Origin, build_head
from chronos.batches.model import (BatchConfig, BatchRejected, RecordError, pack_records, parse_config,
                                   parse_record, unpack_records)
from chronos.batches.stats import bucket, quantiles


async def scripted(answers: list[bytes], close_after: set[int] = frozenset()):
    """A server that reads one request per answer and writes the answers in order (all connections)."""
    state = {"n": 0, "requests": [], "connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                state["requests"].append((head, body))
                i = state["n"]
                state["n"] += 1
                answer = answers[min(i, len(answers) - 1)]
                if answer == b"HANG":
                    await asyncio.sleep(5)
                    return
                writer.write(answer)
                await writer.drain()
                if i in close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], state


def call(answers, bodies, close_after=frozenset(), timeout=2.0):
    async def main():
        server, port, state = await scripted(answers, set(close_after))
        pool = ConnectionPool()
        origin = Origin("http", "127.0.0.1", port)
        head = build_head("POST", "/in?x=1", origin, {"X-Tenant": "t1"})
        out = []
        for body in bodies:
            try:
                out.append(await pool.request(origin, head, body, timeout))
            except HttpError as exc:
                out.append(exc)
        pool.close()
        server.close()
        return out, state

    return asyncio.run(main())


def test_it_reuses_one_connection_and_sends_the_configured_request():
    out, state = call([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], [b'{"a":1}', b'{"a":2}'])
    assert out == [(200, b"ok"), (200, b"ok")] and state["connections"] == 1
    head, body = state["requests"][0]
    assert head.startswith(b"POST /in?x=1 HTTP/1.1\r\n") and b"Host: 127.0.0.1:" in head
    assert b"X-Tenant: t1" in head and b"Content-Type: application/json" in head and body == b'{"a":1}'


def test_it_reads_chunked_bodies_interim_answers_and_keeps_an_excerpt():
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: 1\r\n\r\n")
    big = b"HTTP/1.1 500 Oops\r\nContent-Length: 2000\r\n\r\n" + b"e" * 2000
    out, state = call([chunked, big, b"HTTP/1.1 204 No Content\r\n\r\n"], [b"1", b"2", b"3"])
    assert out[0] == (503, b"hello, world")
    assert out[1][0] == 500 and out[1][1] == b"e" * 512  # an excerpt, not the whole body
    assert out[2] == (204, b"") and state["connections"] == 1


def test_a_close_delimited_body_ends_with_the_connection():
    out, state = call([b"HTTP/1.0 200 OK\r\n\r\nall of it"], [b"1", b"2"], close_after={0, 1})
    assert out == [(200, b"all of it"), (200, b"all of it")] and state["connections"] == 2


def test_a_keep_alive_connection_the_server_closed_is_replaced_once():
    out, state = call([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], [b"1", b"2"], close_after={0})
    assert out == [(200, b""), (200, b"")] and state["connections"] == 2 and len(state["requests"]) == 2


def test_timeouts_and_refused_connections_raise_http_errors():
    out, _ = call([b"HANG"], [b"1"], timeout=0.2)
    assert isinstance(out[0], HttpError) and out[0].kind == "timeout"

    async def refused():
        from chronos.redis_server import free_port

        with pytest.raises(HttpError) as info:
            await ConnectionPool().request(Origin("http", "127.0.0.1", free_port()), b"GET / HTTP/1.1\r\n"
                                           b"Content-Length: ", b"", 1.0)
        return info.value.kind

    assert asyncio.run(refused()) == "connect"


def test_garbage_is_a_protocol_error():
    out, _ = call([b"SPDY/9 what\r\n\r\n"], [b"1"])
    assert isinstance(out[0], HttpError) and out[0].kind == "protocol"


def test_the_go_config_line_parses_with_a_string_port():
    cfg = parse_config(b'{"primarykey":"b","protocol":"HTTPS","host":"api.example.com","port":"8443",'
                       b'"path":"webhooks","metadata":[{"key":"k","value":"v"}]}')
    assert cfg.url == "https://api.example.com:8443/webhooks" and cfg.method == "POST"
    assert BatchConfig(host="h", protocol="https").effective_port == 443
    with pytest.raises(BatchRejected):
        parse_config(b'{"host":"h","concurrency":0}')


def test_records_parse_and_round_trip_through_chunks():
    assert parse_record(b'{"id":7,"payload":"{\\"a\\":1}"}') == ("7", b"7", b'{"a":1}')
    assert parse_record(b'{"id":"x","payload":{"a":1}}') == ("x", b'"x"', b'{"a":1}')
    with pytest.raises(RecordError):
        parse_record(b'{"id":"","payload":"{}"}')
    recs = [(0, b"1", b"{}"), (5, b'"a"', b"x" * 300)]
    assert unpack_records(pack_records(recs)) == recs


def test_latency_quantiles_come_from_the_histogram_within_a_bucket():
    hist: dict[int, int] = {}
    for us in range(1000, 101000, 1000):  # 1 ms .. 100 ms, uniform
        hist[bucket(us)] = hist.get(bucket(us), 0) + 1
    p50, p95 = quantiles(hist, (0.5, 0.95), 1000, 100000)
    assert abs(p50 - 50_000) / 50_000 < 0.1 and abs(p95 - 95_000) / 95_000 < 0.1
