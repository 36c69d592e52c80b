"""TLS and mTLS between edge and hub, with real certificates from deploy/certs/make-certs.sh.

The hub runs with ``--tls-cert --tls-key --client-ca`` (gRPC and HTTPS from the same files); an edge
with a certificate of the site CA whose common name is its edge id delivers end to end. An edge with
a certificate from another CA, an expired certificate, a certificate naming another edge, or no TLS
at all is refused with a log line that says why, and the hub stores nothing from it.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import EDGEHUB, REPO, Edge, Hub, Mosquitto, Proc, assert_exactly_once, hub_rows, sim, wait_for

pytestmark = pytest.mark.system

MAKE_CERTS = REPO / "deploy" / "certs" / "make-certs.sh"


def make_certs(out: Path, *args: str) -> None:
    subprocess.run(["bash", str(MAKE_CERTS), "-o", str(out), *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    site: Path  # site CA, hub cert for localhost/127.0.0.1, edges plant-1, plant-2, plant-1-expired
    other: Path  # a second CA with its own plant-1 certificate
    named: Path  # the site CA's hub cert for hub.example.test only (no IP in its SAN)

    def edge_flags(self, cert_dir: Path, name: str) -> list[str]:
        return ["--hub-ca", str(self.site / "ca.crt"), "--tls-cert", str(cert_dir / "edges" / f"{name}.crt"),
                "--tls-key", str(cert_dir / "edges" / f"{name}.key")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed for the TLS tests (.ci/run installs it)")
    root = tmp_path_factory.mktemp("pki")
    site, other, named = root / "site", root / "other", root / "named"
    make_certs(site, "ca")
    make_certs(site, "hub", "localhost", "127.0.0.1")
    for edge in ("plant-1", "plant-2"):
        make_certs(site, "edge", edge)
    make_certs(site, "expired-edge", "plant-1")
    make_certs(other, "ca")
    make_certs(other, "edge", "plant-1")
    named.mkdir()
    for f in ("ca.crt", "ca.key"):
        shutil.copy(site / f, named / f)
    make_certs(named, "hub", "hub.example.test")
    return Pki(site, other, named)


class TlsHub(Hub):
    """The hub over HTTPS: health and REST calls verify its certificate against the site CA."""

    def __init__(self, workdir: Path, cert_dir: Path, ca: Path, client_ca: Path | None) -> None:
        extra = ["--tls-cert", str(cert_dir / "hub.crt"), "--tls-key", str(cert_dir / "hub.key")]
        if client_ca is not None:
            extra += ["--client-ca", str(client_ca)]
        super().__init__(workdir, extra=extra)
        # gRPC itself logs a refused handshake with its reason ("Handshake failed with error ...:
        # certificate has expired") at its default verbosity; GRPC_VERBOSITY=ERROR would hide it.
        self.env.pop("GRPC_VERBOSITY", None)
        self.ssl = ssl.create_default_context(cafile=str(ca))
        self.ssl.check_hostname = False  # the named hub's certificate is for hub.example.test

    def _healthy(self) -> bool:
        if not self.alive():
            raise AssertionError(f"hub exited:\n{self.output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.http_port}/healthz", timeout=1,
                                        context=self.ssl) as r:
                return r.status == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"https://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def metric(self, name: str) -> float:
        from tests.support import parse_metric

        with urllib.request.urlopen(f"https://127.0.0.1:{self.http_port}/metrics", timeout=5,
                                    context=self.ssl) as r:
            return parse_metric(r.read().decode(), name)


def mtls_hub(tmp_path: Path, pki: Pki, procs: list[Proc]) -> TlsHub:
    hub = TlsHub(tmp_path, pki.site, pki.site / "ca.crt", client_ca=pki.site / "ca.crt")
    procs.append(hub.start())
    return hub


def test_mtls_delivers_readings_end_to_end(tmp_path: Path, pki: Pki, broker: Mosquitto, procs: list[Proc]) -> None:
    hub = mtls_hub(tmp_path, pki, procs)
    assert "(mTLS)" in hub.output()
    with pytest.raises(OSError):  # HTTPS only: a plain HTTP request gets no answer
        urllib.request.urlopen(f"http://127.0.0.1:{hub.http_port}/healthz", timeout=2)
    token = hub.register_edge("plant-1")
    edge = Edge(tmp_path, "plant-1", hub.address, token, broker.url,
                extra=pki.edge_flags(pki.site, "plant-1")).start()
    procs.append(edge)
    edge.wait_subscribed()
    procs.append(sim(broker.url, tmp_path, devices=2, count=400, rate=400))
    wait_for(lambda: hub.edge("plant-1")["acked_seq"] == 400, 30, what="400 readings acked over mTLS")
    assert hub.edge("plant-1")["connected"]
    assert "connected to 127.0.0.1" in edge.output()

    from firmware.sim import device_ids

    hub.stop()
    assert_exactly_once(hub_rows(hub), device_ids(2, "test"), 200)


REFUSALS = {
    # case: (certificate directory, certificate name, what the hub's log says, what the edge's log says)
    "another_ca": ("other", "plant-1", "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate",
                   "uplink: UNAVAILABLE"),
    "expired": ("site", "plant-1-expired", "CERTIFICATE_VERIFY_FAILED: certificate has expired",
                "uplink: UNAVAILABLE"),
    "plaintext": (None, None, "Handshake failed", "uplink: UNAVAILABLE"),
    "other_edges_cn": ("site", "plant-2", "its client certificate is for 'plant-2', not this edge",
                       "hub refused this edge: UNAUTHENTICATED"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_edge_without_a_valid_certificate_for_its_id_is_refused_and_nothing_is_stored(
    case: str, tmp_path: Path, pki: Pki, broker: Mosquitto, procs: list[Proc]
) -> None:
    cert_dir_name, cert, hub_says, edge_says = REFUSALS[case]
    hub = mtls_hub(tmp_path, pki, procs)
    token = hub.register_edge("plant-1")
    flags = pki.edge_flags(getattr(pki, cert_dir_name), cert) if cert_dir_name and cert else []
    edge = Edge(tmp_path, "plant-1", hub.address, token, broker.url, extra=flags).start()
    procs.append(edge)
    edge.wait_subscribed()
    procs.append(sim(broker.url, tmp_path, devices=1, count=50, rate=500))
    wait_for(lambda: edge.metric("edgehub_edge_readings_ingested_total") == 50, 15, what="edge ingest")
    wait_for(lambda: hub_says in hub.output(), 15, what=f"the hub to log {hub_says!r}")
    wait_for(lambda: edge_says in edge.output(), 15, what=f"the edge to log {edge_says!r}")
    if case == "plaintext":
        assert "WRONG_VERSION_NUMBER" in hub.output()  # the edge spoke HTTP/2 in clear to a TLS port
    status, devices = hub.request("GET", "/api/devices/")
    assert status == 200 and devices == []
    edge_row = hub.edge("plant-1")
    assert edge_row["acked_seq"] == 0 and not edge_row["connected"]
    # Kept on the edge, sent once it is let in.
    wait_for(lambda: edge.metric("edgehub_edge_backlog_rows") == 50, 10, what="backlog of 50 on the edge")
    assert edge.alive()


def test_edge_verifies_the_hub_name(tmp_path: Path, pki: Pki, broker: Mosquitto, procs: list[Proc]) -> None:
    # TLS without client certificates; the hub's certificate names hub.example.test only.
    hub = TlsHub(tmp_path, pki.named, pki.site / "ca.crt", client_ca=None)
    procs.append(hub.start())
    token = hub.register_edge("plant-1")
    ca = ["--hub-ca", str(pki.site / "ca.crt")]
    wrong = Edge(tmp_path / "by-address", "plant-1", hub.address, token, broker.url, extra=ca).start()
    procs.append(wrong)
    wait_for(lambda: "Hostname Verification Check failed" in wrong.output(), 15,
             what="the edge to refuse a hub certificate without 127.0.0.1")
    assert hub.edge("plant-1")["acked_seq"] == 0
    wrong.stop()

    right = Edge(tmp_path / "by-name", "plant-1", hub.address, token, broker.url,
                 extra=[*ca, "--tls-server-name", "hub.example.test"]).start()
    procs.append(right)
    right.wait_subscribed()
    procs.append(sim(broker.url, tmp_path, devices=1, count=30, rate=300))
    wait_for(lambda: hub.edge("plant-1")["acked_seq"] == 30, 30, what="30 readings acked")


def test_tls_options_that_would_fall_back_to_plaintext_fail_at_start(
    tmp_path: Path, pki: Pki, broker: Mosquitto, procs: list[Proc]
) -> None:
    cert = pki.site / "edges"
    edge = Proc("edge", [*EDGEHUB, "edge", "--edge-id", "plant-1", "--token", "t", "--hub", "127.0.0.1:1",
                         "--mqtt-url", broker.url, "--data-dir", str(tmp_path / "edge"), "--admin-port", "0",
                         "--tls-cert", str(cert / "plant-1.crt"), "--tls-key", str(cert / "plant-1.key")],
                tmp_path / "edge.log").start()
    procs.append(edge)
    assert edge.wait(20) != 0
    assert "need --hub-ca" in edge.output()

    mismatched = Proc("edge2", [*EDGEHUB, "edge", "--edge-id", "plant-1", "--token", "t", "--hub", "127.0.0.1:1",
                                "--mqtt-url", broker.url, "--data-dir", str(tmp_path / "edge2"), "--admin-port", "0",
                                "--hub-ca", str(pki.site / "ca.crt"), "--tls-cert", str(cert / "plant-1.crt"),
                                "--tls-key", str(cert / "plant-2.key")], tmp_path / "edge2.log").start()
    procs.append(mismatched)
    assert mismatched.wait(20) != 0
    assert "TLS files for the hub link" in mismatched.output()

    hub = Proc("hub", [*EDGEHUB, "hub", "--data-dir", str(tmp_path / "hub"), "--http-port", "0", "--grpc-port", "0",
                       "--client-ca", str(pki.site / "ca.crt")], tmp_path / "hub.log").start()
    procs.append(hub)
    assert hub.wait(20) != 0
    assert "need --tls-cert" in hub.output()
