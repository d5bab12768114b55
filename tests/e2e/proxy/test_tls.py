"""TLS termination (``--tls-cert``/``--tls-key``): CustomersDot's Zuora client speaks HTTPS only."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.echo_upstream import EchoState
from zproxy.testing.proxy_process import ZproxyProcess


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rest.zproxy.zuora.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("rest.zproxy.zuora.com"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_in_front_plain_http_to_the_upstream(
    echo: tuple[str, EchoState], redis_url: str, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    proc = ZproxyProcess(
        upstream=echo[0],
        redis_url=redis_url,
        data_dir=tmp_path / "zp",
        args=("--tls-cert", str(cert), "--tls-key", str(key)),
    )
    await proc.astart()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        https = proc.url.replace("http://", "https://")
        async with aiohttp.ClientSession() as http:
            async with http.get(https + "/v1/x", ssl=trust) as resp:
                assert resp.status == 200
                seen = await resp.json()
            assert dict((k.lower(), v) for k, v in seen["headers"])["x-forwarded-proto"] == "https"
            # Plain HTTP on the TLS port is not served.
            try:
                async with http.get(proc.url + "/v1/x") as plain:
                    assert plain.status != 200
            except aiohttp.ClientError:
                pass
        assert len(echo[1].seen) == 1
    finally:
        proc.kill()
