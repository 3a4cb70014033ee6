"""The fake Salesforce over HTTPS on loopback, for tests that run the CLI as a subprocess
(simple-salesforce and requests always speak HTTPS: the subprocess trusts a throwaway
certificate through REQUESTS_CA_BUNDLE)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.orgs.local import LocalOrg
from tests.fake_salesforce import FakeSalesforce


def throwaway_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fake-sf.crt", directory / "fake-sf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Request:
    def __init__(self, method: str, url: str, headers, body: bytes):
        self.method, self.url, self.headers = method, url, headers
        self.body = body.decode() if body else None


class FakeSalesforceServer:
    """Serves one FakeSalesforce on https://127.0.0.1:<port> from a background thread, which
    also owns the SQLite connection (SQLite connections stay in their thread)."""

    def __init__(self, org_path: Path, cert_dir: Path):
        self.cert, key = throwaway_certificate(cert_dir)
        self.ready = threading.Event()
        self.fake: FakeSalesforce | None = None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                callback = server.fake.dispatch(self.command, self.path)
                if callback is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                request = _Request(self.command, f"{server.url}{self.path}", self.headers, body)
                status, headers, text = callback(request)
                data = text.encode() if isinstance(text, str) else text
                # Not send_response: it adds this machine's Date, and the fake org sends its own.
                self.send_response_only(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _handle

        def serve():
            self.fake = FakeSalesforce(LocalOrg(org_path), None)
            self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
            self.ready.set()
            self.httpd.serve_forever(poll_interval=0.1)

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def env(self) -> dict[str, str]:
        return {"SF_INSTANCE_URL": self.url, "SF_ACCESS_TOKEN": self.fake.token,
                "REQUESTS_CA_BUNDLE": str(self.cert)}

    def login_env(self) -> dict[str, str]:
        """A client credentials login at this server, as at a My Domain (SF_LOGIN_URL)."""
        return {"SF_LOGIN_URL": self.url, "SF_CONSUMER_KEY": "3MVGfake", "SF_CONSUMER_SECRET": "fake-secret",
                "REQUESTS_CA_BUNDLE": str(self.cert)}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.thread.join(5)
