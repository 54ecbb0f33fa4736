"""Recording HTTP receiver smoke tests: real HTTP over loopback, sent with the standard library."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

import pytest

from omnibase_infra_testing.process import LOOPBACK, port_accepts
from omnibase_infra_testing.services.receiver import WebhookReceiver, start_webhook_receiver

# Straight to loopback, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _send(
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)  # noqa: S310
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers.items()), error.read()


def test_records_a_post_exactly(webhook_receiver: WebhookReceiver) -> None:
    body = b'{"event": "node.registered", "id": 7}\n\x00\xff'
    status, _, answer = _send(
        webhook_receiver.url_for("/hooks/events?attempt=1"),
        body,
        {"Content-Type": "application/json", "X-Signature": "sha256=abc", "X-Multi": "a"},
    )
    assert (status, answer) == (200, b"")
    [request] = webhook_receiver.wait_for(1, timeout=5)
    assert request.method == "POST"
    assert request.path == "/hooks/events"
    assert request.query == "attempt=1"
    assert request.target == "/hooks/events?attempt=1"
    assert request.body == body
    assert request.header("content-type") == "application/json"
    assert request.header("X-SIGNATURE") == "sha256=abc"
    assert request.header("Content-Length") == str(len(body))
    assert request.header("missing") is None
    assert abs(request.received_at - time.time()) < 5
    assert webhook_receiver.url == f"http://{LOOPBACK}:{webhook_receiver.port}"


def test_records_a_chunked_body(webhook_receiver: WebhookReceiver) -> None:
    conn = http.client.HTTPConnection(LOOPBACK, webhook_receiver.port, timeout=5)
    try:
        conn.request("PUT", "/chunked", body=iter([b"part-1|", b"part-2"]), encode_chunked=True)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    [request] = webhook_receiver.wait_for(1)
    assert (request.method, request.body) == ("PUT", b"part-1|part-2")
    assert request.header("Transfer-Encoding") == "chunked"


def test_a_request_cut_off_mid_body_is_not_recorded(webhook_receiver: WebhookReceiver) -> None:
    """A sender killed between its headers and its body sent no request (seen with a
    SIGKILLed webhook sender): the receiver records only whole requests."""
    with socket.create_connection((LOOPBACK, webhook_receiver.port), timeout=5) as sock:
        sock.sendall(
            b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 12\r\n\r\n{"a"'
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""  # no answer: the connection is closed
    status, _, _ = _send(webhook_receiver.url_for("/whole"), b'{"a": 1}')
    assert status == 200
    [request] = webhook_receiver.wait_for(1)
    assert (request.path, request.body) == ("/whole", b'{"a": 1}')


def test_scripted_answers_arrive_as_such(webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.url_for("/hook")
    webhook_receiver.respond_with(500, b"boom", times=1, path="/hook")
    webhook_receiver.respond_with(429, headers={"Retry-After": "3"}, times=1, path="/hook")
    webhook_receiver.respond_with(202, '{"ok": true}', headers={"Content-Type": "application/json"})
    webhook_receiver.respond_with(410, b"gone", path="/gone")

    assert _send(hook, b"1")[::2] == (500, b"boom")
    status, headers, _ = _send(hook, b"2")
    assert (status, headers["Retry-After"]) == (429, "3")
    status, headers, answer = _send(hook, b"3")  # queue used up: the standing answer
    assert (status, answer, headers["Content-Type"]) == (202, b'{"ok": true}', "application/json")
    assert _send(webhook_receiver.url_for("/gone"), b"4")[::2] == (410, b"gone")
    assert _send(webhook_receiver.url_for("/gone"), b"5")[::2] == (410, b"gone")
    assert _send(webhook_receiver.url_for("/other"), method="GET")[0] == 202

    assert [r.body for r in webhook_receiver.requests_to("/hook")] == [b"1", b"2", b"3"]
    assert len(webhook_receiver.wait_for(2, path="/gone")) == 2
    assert len(webhook_receiver.requests) == 6

    webhook_receiver.clear()
    assert webhook_receiver.requests == []
    assert _send(hook, b"6")[0] == 200  # scripting forgotten too


def test_slow_answer_and_redirect(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with(204, delay=0.6, times=2, path="/slow")
    with pytest.raises(TimeoutError):
        _send(webhook_receiver.url_for("/slow"), b"x", timeout=0.2)
    started = time.monotonic()
    assert _send(webhook_receiver.url_for("/slow"), b"y")[0] == 204
    assert time.monotonic() - started >= 0.55
    assert _send(webhook_receiver.url_for("/slow"), b"z")[0] == 200  # fast again

    webhook_receiver.redirect("/new", status=302, path="/old")
    webhook_receiver.respond_with(200, b"moved here", path="/new")
    status, _, answer = _send(webhook_receiver.url_for("/old"), method="GET")
    assert (status, answer) == (200, b"moved here")
    assert [r.path for r in webhook_receiver.requests][-2:] == ["/old", "/new"]


def test_wait_for_blocks_until_requests_arrive_and_fails_clearly(
    webhook_receiver: WebhookReceiver,
) -> None:
    sender = threading.Timer(0.2, _send, args=(webhook_receiver.url_for("/late"), b"late"))
    sender.start()
    try:
        assert webhook_receiver.wait_for(1, timeout=5)[0].body == b"late"
    finally:
        sender.join()
    with pytest.raises(AssertionError, match=r"expected 2 request\(s\) to any path within 0.1 s"):
        webhook_receiver.wait_for(2, timeout=0.1)


def test_each_test_gets_a_fresh_receiver(webhook_receiver: WebhookReceiver) -> None:
    assert webhook_receiver.requests == []
    assert _send(webhook_receiver.url, method="GET")[0] == 200


def test_stop_frees_the_port() -> None:
    receiver = start_webhook_receiver()
    assert _send(receiver.url_for("/x"), b"x")[0] == 200
    receiver.stop()
    assert not port_accepts(receiver.port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, receiver.port))
