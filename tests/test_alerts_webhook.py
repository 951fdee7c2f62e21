"""The webhook channel against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import pytest

from ingestctl.alerts.webhook import WebhookChannel
from ingestctl.config import WebhookConfig
from ingestctl.errors import DeliveryError

from .alerts_helpers import free_port, sample_dead_letter
from .httpserver import LocalServer, Request, Response

SECRET_PATH = "/services/T000/B000/XXXXsecretXXXX"


def channel(url: str, **kwargs: object) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url_env="HOOK_URL", timeout=5.0), {"HOOK_URL": url},
                          **kwargs)  # type: ignore[arg-type]


def test_posts_slack_compatible_json() -> None:
    with LocalServer(lambda req: Response(200, b"ok")) as server:
        channel(server.url(SECRET_PATH)).send(sample_dead_letter())
    assert len(server.requests) == 1
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", SECRET_PATH)
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("ingestctl/")
    doc = json.loads(req.body)
    assert doc["text"].startswith("*[ingestctl][CRITICAL] shop-sitemap failed on host1*\n")
    assert "  ingestctl retry 42" in doc["text"].splitlines()
    alert = doc["alert"]
    assert alert["key"] == "dead_letter:shop-sitemap"
    assert alert["kind"] == "job_dead_lettered"
    assert alert["severity"] == "critical"
    assert alert["subject"] == "[ingestctl][CRITICAL] shop-sitemap failed on host1"
    assert alert["created_at"] == "2026-03-04T05:06:07.000000Z"
    fields = alert["fields"]
    assert fields["job_id"] == 42 and fields["import"] == "shop-sitemap"
    assert fields["dead_letters_total"] == 7
    history = [a["error_class"] for a in fields["attempt_history"]]
    assert (fields["attempts"], history) == (3, ["transient", "transient", "data"])
    assert "hunter2" not in req.body.decode() and "s3cr3t" not in req.body.decode()


def test_uses_a_given_client() -> None:
    with LocalServer(lambda req: Response(204)) as server, httpx.Client() as client:
        hook = channel(server.url("/hook"), client=client)
        hook.send(sample_dead_letter())
        hook.send(sample_dead_letter())
    assert server.paths() == ["/hook", "/hook"]


def test_server_error_is_a_delivery_error_without_the_url() -> None:
    def fail(req: Request) -> Response:
        return Response(500, b"internal error at " + SECRET_PATH.encode())

    with LocalServer(fail) as server:
        url = server.url(SECRET_PATH)
        with pytest.raises(DeliveryError) as info:
            channel(url).send(sample_dead_letter())
    assert info.value.channel == "webhook"
    assert info.value.reason == "the webhook answered HTTP 500: internal error at <path>"
    assert "secret" not in str(info.value)
    assert len(server.requests) == 1


def test_connection_refused_is_a_delivery_error_without_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(DeliveryError) as info:
        channel(url).send(sample_dead_letter())
    assert info.value.reason.startswith("ConnectError: ")
    assert "secret" not in str(info.value)


def test_missing_url_variable() -> None:
    hook = WebhookChannel(WebhookConfig(url_env="HOOK_URL"), {})
    assert not hook.configured
    with pytest.raises(DeliveryError) as info:
        hook.send(sample_dead_letter())
    assert info.value.reason == "environment variable HOOK_URL is not set"
