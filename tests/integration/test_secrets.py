"""Secrets never reach an output. `revsync sync --org salesforce` runs as a subprocess, piped and
on a terminal (a pseudo-terminal, so the terminal renderer is used), against Salesforce endpoints
that misbehave, with secret values planted in the environment and a private key file; stdout,
stderr and the terminal's output are searched for every planted value. Issue 11: a rich
traceback on a terminal showed `'Authorization': 'Bearer <token>'` among its local variables."""
from __future__ import annotations

import fcntl
import html
import os
import pty
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from connector.workspace.scaffold import scaffold
from tests.fake_salesforce_server import throwaway_certificate

ROOT = Path(__file__).resolve().parents[2]
PLANTED = {"SF_ACCESS_TOKEN": "00DPLANTED!accessTokenQx7", "SF_PASSWORD": "PLANTEDpassw0rd&<x>",
           "SF_SECURITY_TOKEN": "PLANTEDsecurityTok3n", "SF_CONSUMER_SECRET": "PLANTEDconsumerSecr3t"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Hostile:
    """An HTTPS endpoint on loopback that answers every request the same wrong way."""

    ANSWERS = {"html": (200, "text/html", b"<html><body>Down for maintenance</body></html>"),
               "500": (500, "text/html", b"<html><body>Internal Server Error</body></html>"),
               "list": (200, "application/json", b'[{"access_token": "x", "instance_url": 1}]')}

    def __init__(self, mode: str, directory: Path):
        cert, key = throwaway_certificate(directory)
        self.cert = cert

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if mode == "echo":  # an error page that repeats the request, headers and body
                    text = (str(self.headers) + body.decode(errors="replace")).replace('"', "'")
                    status, kind, data = 400, "application/json", \
                        f'[{{"errorCode": "ECHO", "message": "{" ".join(text.split())}"}}]'.encode()
                    if self.path.startswith("/login"):  # a login: SOAP faults are XML, this is not
                        status, kind, data = 500, "text/plain", str(self.headers).encode() + body
                else:
                    status, kind, data = Hostile.ANSWERS[mode]
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _answer

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def private_key(directory: Path) -> tuple[Path, list[str]]:
    """A PEM RSA key file, and its body lines: none of them may be printed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = directory / "sf.key"
    path.write_text(pem)
    return path, [line for line in pem.splitlines() if not line.startswith("-----")]


@pytest.fixture()
def ws(tmp_path):
    scaffold(tmp_path)
    # Two tries, not five: what is checked is the output of a failing org, not the backoff.
    settings = tmp_path / "revsync.toml"
    settings.write_text(settings.read_text().replace("[revsync]\n", "[revsync]\nattempts = 2\n", 1))
    key_file, key_lines = private_key(tmp_path)
    return tmp_path, key_file, key_lines


def flow_env(flow: str, url: str, key_file: Path) -> dict[str, str]:
    """Every secret is planted whatever the flow; each flow sets what selects it (docs/salesforce.md:
    session, then JWT, then client credentials, then password)."""
    domain = f"{url.removeprefix('https://')}/login#"  # https://{domain}.salesforce.com/... -> /login
    env = {**PLANTED, "SF_PRIVATE_KEY_FILE": str(key_file)}
    if flow == "session":
        return {**env, "SF_INSTANCE_URL": url}
    extra = {"jwt": {"SF_USERNAME": "int@acme.example", "SF_CONSUMER_KEY": "3MVGplanted"},
             "client_credentials": {"SF_CONSUMER_KEY": "3MVGplanted"},
             "password": {"SF_USERNAME": "int@acme.example"}}[flow]
    if flow != "jwt":
        env.pop("SF_PRIVATE_KEY_FILE")
    if flow == "password":
        env.pop("SF_CONSUMER_SECRET")
    # SF_ACCESS_TOKEN stays planted: without SF_INSTANCE_URL it selects nothing.
    return {**env, **extra, "SF_DOMAIN": domain}


def base_env(cert: Path, extra: dict, inject: Path | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    path = f"{inject}{os.pathsep}{ROOT}" if inject else str(ROOT)
    return {**clean, "PYTHONPATH": path, "REQUESTS_CA_BUNDLE": str(cert), "COLUMNS": "250", "LINES": "60",
            "TERM": "xterm-256color", **extra}


def run_piped(cwd: Path, env: dict, *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def run_on_terminal(cwd: Path, env: dict, *args: str) -> tuple[int, str]:
    """stdin, stdout and stderr on a pseudo-terminal 250 columns wide: what a person sees."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 250, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(30), ANSI.sub("", out.decode(errors="replace"))


def assert_no_secret(output: str, key_lines: list[str]) -> None:
    flat = "".join(output.split())  # a value wrapped across lines is still found
    for name, value in PLANTED.items():
        for form in {value, html.escape(value)}:
            assert form not in output and form not in flat, f"{name} printed:\n{output}"
    for line in key_lines:
        assert line not in flat, f"private key text printed:\n{output}"


@pytest.mark.parametrize("flow, mode, expect", [
    ("session", "html", "text/html"),  # issue 11's reproduction
    ("session", "500", "HTTP 500"),
    ("session", "echo", "ECHO"),  # the error message repeats the Authorization header
    ("session", "refused", "ConnectionError"),
    ("password", "echo", "refused the password login"),  # the SOAP fault repeats the password
    ("password", "html", "password login"),
    ("client_credentials", "list", "client_credentials login failed"),
    ("jwt", "list", "jwt login failed"),
])
def test_a_misbehaving_org_is_exit_3_and_prints_no_secret(ws, flow, mode, expect):
    directory, key_file, key_lines = ws
    server = Hostile("html" if mode == "refused" else mode, directory)
    try:
        url = f"https://127.0.0.1:{server.port}"
        if mode == "refused":
            with socket.socket() as s:  # a port nobody listens on
                s.bind(("127.0.0.1", 0))
                url = f"https://127.0.0.1:{s.getsockname()[1]}"
        env = base_env(server.cert, flow_env(flow, url, key_file))
        code, output = run_piped(directory, env, "sync", "--org", "salesforce")
        assert code == 3, output
        assert expect in output and "Traceback" not in output, output
        assert_no_secret(output, key_lines)
        if mode in ("html", "list"):  # and the same on a terminal
            code, output = run_on_terminal(directory, env, "sync", "--org", "salesforce")
            assert code == 3 and expect in output and "Traceback" not in output, output
            assert_no_secret(output, key_lines)
    finally:
        server.stop()


def planted_bug(directory: Path) -> Path:
    """A bug raised where the token is a local variable (`headers` in `_send_once`), as in issue
    11: loaded into the subprocess by Python's sitecustomize hook."""
    inject = directory / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import connector.orgs.salesforce as sf\n"
        "def _read_limits(self, response):\n"
        "    raise RuntimeError('a planted bug')\n"
        "sf.SalesforceOrg._read_limits = _read_limits\n")
    return inject


def test_a_bug_is_exit_70_in_one_line_and_its_traceback_only_with_v_and_without_locals(ws):
    directory, key_file, key_lines = ws
    server = Hostile("html", directory)
    try:
        env = base_env(server.cert, flow_env("session", f"https://127.0.0.1:{server.port}", key_file),
                       inject=planted_bug(directory))
        for run in (run_piped, run_on_terminal):
            code, output = run(directory, env, "sync", "--org", "salesforce")
            assert code == 70, output
            lines = [line for line in output.splitlines() if "internal error" in line]
            assert len(lines) == 1 and "RuntimeError: a planted bug" in lines[0] and "-v" in lines[0], output
            assert "Traceback" not in output and "report" in lines[0]
            assert_no_secret(output, key_lines)
            code, output = run(directory, env, "-v", "sync", "--org", "salesforce")
            assert code == 70 and "Traceback (most recent call last)" in output, output
            assert "_send_once" in output  # the frame whose locals hold the token ...
            assert "locals" not in output and "headers =" not in output  # ... shown without them
            assert_no_secret(output, key_lines)
    finally:
        server.stop()
