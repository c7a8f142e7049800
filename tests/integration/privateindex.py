"""A private package index for the credential tests: PyPI's simple layout over HTTPS on the Docker
bridge's gateway (pip trusts plain HTTP on loopback only, which a build step cannot reach), with a
self-signed certificate made by the given image's openssl, answering only requests that carry the
expected basic-auth credential."""

from __future__ import annotations

import base64
import hashlib
import http.server
import ipaddress
import os
import ssl
import threading
from pathlib import Path


def bridge_gateway(docker_client) -> str:
    """The host's address on the engine's default bridge: what a build step or container reaches the host at."""
    config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def self_signed_certificate(docker_client, image: str, address: str, directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for `address`, made by openssl in a container of `image` (the host needs none)."""
    directory.mkdir(parents=True, exist_ok=True)
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=curator-kit-test-index"
    command += f" -addext subjectAltName=IP:{address} -keyout /tls/key.pem -out /tls/cert.pem"
    docker_client.containers.run(
        image,
        command.split(),
        volumes={str(directory): {"bind": "/tls", "mode": "rw"}},
        user=f"{os.getuid()}:{os.getgid()}",
        network_disabled=True,
        remove=True,
    )
    return directory / "cert.pem", directory / "key.pem"


class PrivateIndex:
    """`with PrivateIndex(...) as index:` serves `wheels` at `index.url` (credentials included) until the
    block ends; `index.seen` lists the Authorization header of every request, `index.granted` counts
    the ones that carried the credential."""

    def __init__(self, docker_client, image: str, root: Path, wheels: list[Path], user: str, password: str) -> None:
        self.address = bridge_gateway(docker_client)
        self.certificate, key = self_signed_certificate(docker_client, image, self.address, root.parent / "tls")
        for wheel in wheels:
            name = wheel.name.split("-")[0].replace("_", "-").lower()
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            page = root / "simple" / name / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            target = root / "packages" / wheel.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(wheel.read_bytes())
            page.write_text(f'<a href="/packages/{wheel.name}#sha256={digest}">{wheel.name}</a>\n')
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen: list[str] = []
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                index.seen.append(self.headers.get("Authorization", ""))
                if index.seen[-1] != expected:
                    self.send_error(401)
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.expected = expected
        self.server = http.server.ThreadingHTTPServer((self.address, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"https://{user}:{password}@{self.address}:{self.server.server_address[1]}/simple/"

    @property
    def granted(self) -> int:
        return sum(header == self.expected for header in self.seen)

    def __enter__(self) -> PrivateIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
