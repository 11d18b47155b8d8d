# ruff: noqa: F811 (the fixtures of test_receivers are imported)
"""What the alert receivers take as a body (#23): the whole of it however it arrives (in small
pieces, chunked or with a Content-Length, gzip; from the real Alertmanager see
test_alertmanager), up to INBOUND_MAX_BYTES (413 above, with or without a Content-Length); and
never a 5xx or a traceback for a body that is not acceptable JSON (a fuzz of every receiver's
payload), with nothing stored."""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.settings import load_settings
from heatwatch.server import SERVICES, create_app
from tests.inbound.test_receivers import (  # noqa: F401 (fixtures)
    AM_TOKEN,
    GRAFANA_TOKEN,
    INFLUX_TOKEN,
    client,
    eventually,
    fixture,
    installed,
    post,
    receiver_env,
    resolved,
    stored_alerts,
)
from tests.standins.connector import ConnectorStandIn
from tests.support.teams import PERSONAL, TeamsChannel


async def send_in_pieces(client: TestClient, receiver: str, body: bytes, authorization: str,
                         chunked: bool, piece: int = 8192) -> tuple[int, Any]:
    """POST `body` as a sender on a slow link does: `piece` bytes per write, a pause between
    writes, with a Content-Length or chunked (Transfer-Encoding: chunked, one chunk a write)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    writer.write(f"POST /api/alerts/{receiver} HTTP/1.1\r\nHost: {client.host}\r\n"
                 f"Content-Type: application/json\r\nAuthorization: {authorization}\r\n"
                 f"{length}\r\nConnection: close\r\n\r\n".encode())
    try:
        for start in range(0, len(body), piece):
            part = body[start:start + piece]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            await asyncio.sleep(0.005)  # the next write comes later: the server sees a piece
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # answered (413) before the whole body was sent
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(content)


def many_alerts(payload: dict[str, Any], count: int, note: int = 0) -> dict[str, Any]:
    """The notification with `count` alerts of its group, each with a `note`-long
    description."""
    payload = copy.deepcopy(payload)
    template = payload["alerts"][0]
    payload["alerts"] = []
    for index in range(count):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = f"{index:016x}"
        alert["labels"]["sensor"] = f"rack-{index}-inlet"
        alert["annotations"]["description"] = f"Rack {index} inlet is too hot. " + "x" * note
        payload["alerts"].append(alert)
    return payload


CREDENTIALS = {
    "alertmanager": f"Bearer {AM_TOKEN}", "influxdb": f"Bearer {INFLUX_TOKEN}",
    "grafana": "Basic " + base64.b64encode(f"grafana:{GRAFANA_TOKEN}".encode()).decode()}


def influxdb_row(size: int) -> dict[str, Any]:
    """A status row with a long `_message` (a check's message template can say a lot)."""
    row = fixture("influxdb")
    row["_message"] += " Recent readings: " + " ".join(
        f"{20 + index % 150 / 10:.1f}" for index in range(size // 5))
    return row


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_notification_sent_in_small_pieces_is_read_whole(
        client: TestClient, chunked: bool) -> None:
    """A 48 KB Alertmanager, 56 KB Grafana and 39 KB InfluxDB notification in 8 KB writes (a
    body parsed from its first piece was a 400 "Unterminated string ... char 8191")."""
    for receiver, payload, alerts in [
            ("alertmanager", many_alerts(fixture("alertmanager"), 40, 800), 40),
            ("grafana", many_alerts(fixture("grafana"), 40, 900), 40),
            ("influxdb", influxdb_row(39 * 1024), 1)]:
        body = json.dumps(payload).encode()
        assert len(body) > 4 * 8192, receiver
        status, answer = await send_in_pieces(client, receiver, body, CREDENTIALS[receiver],
                                              chunked)
        assert (status, answer) == (200, {"received": alerts, "new": alerts}), receiver
    assert await stored_alerts(client) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # reading is the same
async def test_ten_thousand_alerts_in_pieces_are_taken_and_over_the_cap_is_413_either_way(
        aiohttp_client: Any, receiver_env: dict[str, str]) -> None:
    client = await aiohttp_client(create_app(load_settings(
        environ={**receiver_env, "INBOUND_MAX_BYTES": str(8 * 1024 * 1024)}, env_file=None)))
    payload = many_alerts(fixture("alertmanager"), 10_000)
    body = json.dumps(payload).encode()
    assert len(body) > 1024 * 1024
    status, answer = await send_in_pieces(client, "alertmanager", body, CREDENTIALS[
        "alertmanager"], chunked=True, piece=64 * 1024)
    assert (status, answer) == (200, {"received": 10_000, "new": 10_000})
    assert await stored_alerts(client) == 1

    # One byte over the cap: 413, whether the sender says how long the body is or not.
    over = json.dumps(many_alerts(fixture("alertmanager"), 10_000, 5)).encode()
    over += b" " * (8 * 1024 * 1024 + 1 - len(over))
    for chunked in (False, True):
        status, answer = await send_in_pieces(client, "alertmanager", over, CREDENTIALS[
            "alertmanager"], chunked, piece=256 * 1024)
        assert (status, answer["error"]["code"]) == (413, "too_large"), chunked
    assert await stored_alerts(client) == 1


RAW = "\u2063raw:"  # marks a value written into the body as it is (not JSON-encoded)
WRONG: list[Any] = [
    None, True, 0, -1, 2.5, "", "x" * 5000, [], {}, [1, "a"], {"a": {"b": ["c"]}},
    "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "\u0000", "\ud800 lone",
    {"\ud800": "key"}, RAW + "1e400", RAW + "-1e999", RAW + "NaN", RAW + "-Infinity",
    RAW + "12345678901234567890123", RAW + "9" * 5000, RAW + "[" * 40 + "]" * 40,
    RAW + '"\xff\xfe not UTF-8"',
]


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, the document itself first."""
    found = [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else []
    for key, item in items:
        found += paths(item, (*path, key))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> bytes:
    """The document with the value at `path` replaced (or removed, for `...`), as a body."""
    if not path:
        document = value
    else:
        document = copy.deepcopy(document)
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if value is ...:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    text = json.dumps(document)
    for raw in {v for v in WRONG if isinstance(v, str) and v.startswith(RAW)}:
        text = text.replace(json.dumps(raw), raw[len(RAW):])
    return text.encode("utf-8", "surrogatepass").replace(b"\\u2063", b"")


async def stored_rows(client: TestClient) -> tuple[int, ...]:
    counts = []
    for table in ("alerts", "inbound_seen", "deliveries", "audit_events"):
        row = await client.app[SERVICES].database.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
        assert row is not None
        counts.append(int(row["n"]))
    return tuple(counts)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no storage before 200
async def test_no_body_whatever_its_shape_is_a_server_error_or_a_traceback(
        client: TestClient, installed: TeamsChannel, caplog: pytest.LogCaptureFixture) -> None:
    """Every place of every receiver's payload, in turn, replaced by values of the wrong type
    (nesting, huge numbers, NaN, NUL, lone surrogates, bad UTF-8, impossible times) or
    removed; and bodies that are not JSON at all. Each answer is a 200 (the sender's document
    allows it) or a 4xx with the usual error body that stored nothing; never a 5xx, never a
    traceback in the log."""
    caplog.set_level(logging.INFO)
    bodies: list[tuple[str, bytes]] = []
    for receiver in ("alertmanager", "grafana", "influxdb"):
        document = fixture(receiver)
        for path in paths(document):
            bodies += [(receiver, replaced(document, path, value)) for value in WRONG]
            if path:
                bodies.append((receiver, replaced(document, path, ...)))
        whole = json.dumps(document).encode()
        bodies += [(receiver, whole[:cut]) for cut in range(0, len(whole), 97)]
        bodies += [(receiver, body) for body in (
            b"[" * 100_000, b'{"a":' * 100_000, b"[" * 33 + b"]" * 33, b"\xef\xbb\xbf" + whole,
            whole.decode().encode("utf-16"), b"\xc3\x28", b"null", b"1e400", b"", b" " * 9000)]
    refused = accepted = 0
    for receiver, body in bodies:
        before = await stored_rows(client)
        response = await client.post(f"/api/alerts/{receiver}", data=body, headers={
            "Content-Type": "application/json", "Authorization": CREDENTIALS[receiver]})
        assert response.status < 500, (receiver, body[:300], await response.text())
        answer = await response.json()
        if response.status == 200:
            accepted += 1
            continue
        refused += 1
        assert response.status == 400, (receiver, body[:300], answer)
        assert set(answer) == {"error"} and {"code", "message"} <= set(answer["error"])
        assert await stored_rows(client) == before, (receiver, body[:300])
    assert refused > accepted > 0  # most are wrong; some the sender's document allows
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


async def test_long_names_and_keys_are_taken_in_on_both_databases(
        client: TestClient, installed: TeamsChannel, connector: ConnectorStandIn) -> None:
    """An alert name, fingerprint, check name or tag set of thousands of characters (a
    PostgreSQL index entry holds at most about 2.7 KB: this was a 503, retried forever)."""
    words = " ".join(f"{index:05d}" for index in range(1500))  # ~9 KB, hardly compressible
    payload = fixture("alertmanager")
    payload["groupLabels"]["alertname"] = "Hot " + words
    for alert in payload["alerts"]:
        alert["fingerprint"] += words
    assert (await post(client, "alertmanager", payload))[0] == 200
    row = fixture("influxdb")
    row.update({"_check_id": "check " + words, "_check_name": "Inlet " + words,
                **{f"tag_{index}": f"value-{index:05d}" for index in range(500)}})
    status, answer = await post(client, "influxdb", row, token=INFLUX_TOKEN)
    assert (status, answer) == (200, {"received": 1, "new": 1})
    assert await stored_alerts(client) == 2
    # The same again is the same alerts (the shortened keys are stable), resolved is resolved.
    assert (await post(client, "alertmanager", payload))[1] == {"received": 2, "new": 0}
    status, answer = await post(client, "alertmanager", resolved(payload))
    assert (status, answer["new"]) == (200, 2)
    await eventually(lambda: any(t.startswith("Resolved:") for t in connector.texts(PERSONAL)))
    assert await stored_alerts(client) == 2


async def test_a_compressed_body_is_read_whole_and_its_cap_counts_what_it_inflates_to(
        client: TestClient) -> None:
    """Content-Encoding: gzip (aiohttp inflates it piece by piece): the notification is taken;
    a small body that inflates past INBOUND_MAX_BYTES (a 20 KB "zip bomb" of 20 MB) is a 413
    read no further than the cap."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
               "Authorization": CREDENTIALS["alertmanager"]}
    body = gzip.compress(json.dumps(many_alerts(fixture("alertmanager"), 40, 800)).encode())
    response = await client.post("/api/alerts/alertmanager", data=body, headers=headers)
    assert (response.status, await response.json()) == (200, {"received": 40, "new": 40})
    bomb = gzip.compress(b'{"version": "4", "receiver": "' + b"0" * 20 * 1024 * 1024 + b'"}')
    assert len(bomb) < 64 * 1024
    response = await client.post("/api/alerts/alertmanager", data=bomb, headers=headers)
    assert (response.status, (await response.json())["error"]["code"]) == (413, "too_large")
    assert await stored_alerts(client) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing is stored
async def test_broken_framing_or_compression_is_a_400_without_a_traceback(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A chunk size that is not hex, gzip that does not inflate or ends early: 400 (aiohttp's
    own answer for framing it cannot parse), a WARNING line, never a traceback."""
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"POST /api/alerts/alertmanager HTTP/1.1\r\nHost: {client.host}\r\n"
                 f"Content-Type: application/json\r\nAuthorization: Bearer {AM_TOKEN}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400 ") or answer.startswith(b"HTTP/1.1 400 "), answer
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
               "Authorization": CREDENTIALS["alertmanager"]}
    whole = gzip.compress(json.dumps(fixture("alertmanager")).encode())
    for body in (b"\x1f\x8b\x08\x00" + b"not deflate data" * 64, whole[:len(whole) // 2]):
        response = await client.post("/api/alerts/alertmanager", data=body, headers=headers)
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["code"] in ("bad_body", "bad_json")
    await client.post("/api/alerts/alertmanager", data=b"{}", headers={
        **headers, "Content-Encoding": "identity"})  # the server has finished with the above
    assert await stored_alerts(client) == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


async def test_a_body_that_stops_arriving_is_a_408_and_nothing_is_stored(
        aiohttp_client: Any, receiver_env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    """A sender whose body stops halfway (or trickles) does not hold the connection forever:
    after INBOUND_READ_TIMEOUT_SECONDS it gets a 408, and the connection is closed."""
    caplog.set_level(logging.INFO)
    client = await aiohttp_client(create_app(load_settings(
        environ={**receiver_env, "INBOUND_READ_TIMEOUT_SECONDS": "1"}, env_file=None)))
    body = json.dumps(fixture("alertmanager")).encode()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"POST /api/alerts/alertmanager HTTP/1.1\r\nHost: {client.host}\r\n"
                 f"Content-Type: application/json\r\nAuthorization: Bearer {AM_TOKEN}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
    await writer.drain()
    async with asyncio.timeout(30):  # the server's answer, then its close: the signal
        answer = await reader.read()
    writer.close()
    assert answer.split()[1] == b"408", answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"
    assert await stored_alerts(client) == 0
    assert "did not arrive whole within 1 s (INBOUND_READ_TIMEOUT_SECONDS)" in caplog.text
