"""The action server as `make run` starts it (`python -m bot.servers actions`): on the loopback
interface only, refusing to start without its token, and refusing every caller without it
except the health check. (Rasa's server and channel: tests/services/test_e2e_stack.py.)"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.servers import rasa_argv, required_token, token_matches
from tests.ports import listening_on

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-actions-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code




@pytest.fixture(scope="module")
def action_server():
    port = free_port()
    env = {**os.environ, "ACTIONS_TOKEN": TOKEN, "SERVICES_URL": "http://127.0.0.1:9"}
    env.pop("BOT_INTERFACE", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.servers", "actions", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read().decode(errors="replace")[-3000:])
            try:
                if status(f"http://127.0.0.1:{port}/health") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_it_listens_on_loopback_only(action_server):
    assert listening_on(action_server) == {"127.0.0.1"}


def test_a_caller_without_the_token_is_refused(action_server):
    base = f"http://127.0.0.1:{action_server}"
    assert status(f"{base}/actions") == 401
    assert status(f"{base}/actions?token=wrong-token-wrong-token") == 401
    assert status(f"{base}/actions?token={TOKEN}") == 200
    assert status(f"{base}/health") == 200
    req = urllib.request.Request(f"{base}/webhook", data=b'{"next_action": "action_fallback"}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        code = 200
    except urllib.error.HTTPError as exc:
        code = exc.code
    assert code == 401


def test_no_start_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "ACTIONS_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "bot.servers", "actions", "--port", str(free_port())],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "ACTIONS_TOKEN" in out.stderr


def test_tokens_are_compared_whole(monkeypatch):
    monkeypatch.setenv("RASA_AUTH_TOKEN", "short")
    with pytest.raises(SystemExit):
        required_token("RASA_AUTH_TOKEN")
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN) and not token_matches(None, TOKEN)


async def test_the_actions_send_the_service_token_when_one_is_set(services, monkeypatch):
    from actions import services_client

    await services_client.request("POST", "/api/eligibility/screen", json={})
    assert services.authorization is None  # the embedded default: loopback, no token
    monkeypatch.setenv("SERVICES_API_TOKEN", "service-token-0123456789")
    await services_client.request("POST", "/api/eligibility/screen", json={})
    assert services.authorization == "Bearer service-token-0123456789"


def test_a_token_that_begins_with_a_dash_reaches_rasa_whole():
    """token_urlsafe begins one token in 64 with "-": Rasa's own parser must still read it."""
    from rasa.cli.arguments.run import set_run_arguments
    import argparse

    parser = argparse.ArgumentParser()
    set_run_arguments(parser)
    token = "-Xy_" + "a" * 40
    args = parser.parse_args(rasa_argv(token, ["--port", "5005", "--model", "models"])[2:])
    assert args.auth_token == token and args.port == 5005 and args.enable_api
