"""scripts/ci_assume_role.py, the pipeline's replacement for a third-party credentials action:
against a local stand-in for GitHub's token endpoint and moto's STS it asks for a token with
the STS audience, exchanges it for the role, masks the secrets and writes them to $GITHUB_ENV."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cfn import REPO

sys.path.insert(0, str(REPO / "scripts"))
import ci_assume_role  # noqa: E402

MOTO = REPO / ".tools/emulators/bin/moto_server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def moto_sts(monkeypatch):
    port = free_port()
    process = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def token_endpoint():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"value": "eyJ.oidc.token"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token?api-version=2.0", seen
    server.shutdown()


def test_exchanges_the_oidc_token_for_the_role(moto_sts, token_endpoint, tmp_path: Path, capsys):
    url, seen = token_endpoint
    env_file = tmp_path / "github_env"
    environ = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-bearer",
        "GITHUB_ENV": str(env_file),
        "GITHUB_RUN_ID": "42",
    }
    role = "arn:aws:iam::123456789012:role/password-reset-github-DeployRole-X"
    ci_assume_role.main(["ci_assume_role.py", role, "ap-northeast-1"], environ)

    assert seen == [("/token?api-version=2.0&audience=sts.amazonaws.com", "bearer request-bearer")]
    written = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert set(written) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                            "AWS_REGION", "AWS_DEFAULT_REGION"}
    assert written["AWS_REGION"] == "ap-northeast-1"
    assert written["AWS_ACCESS_KEY_ID"] and written["AWS_SESSION_TOKEN"]
    out = capsys.readouterr().out
    # Every secret is masked before anything else could print it.
    for secret in ("eyJ.oidc.token", written["AWS_SECRET_ACCESS_KEY"], written["AWS_SESSION_TOKEN"]):
        assert f"::add-mask::{secret}" in out
    assert out.count(written["AWS_SECRET_ACCESS_KEY"]) == 1


def test_without_id_token_permission_it_stops(tmp_path: Path):
    with pytest.raises(SystemExit, match="id-token: write"):
        ci_assume_role.main(["x", "arn:aws:iam::1:role/r", "ap-northeast-1"], {"GITHUB_ENV": str(tmp_path / "e")})
    assert not (tmp_path / "e").exists()
