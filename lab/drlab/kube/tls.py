"""TLS for the Kubernetes APIs: a lab CA and a serving certificate for the lab host.

Plain HTTP is not an option: client-go (kubectl) only sends a kubeconfig's bearer
token over TLS, and the real ACK/ASM API servers are HTTPS.  The CA is kept in
the lab directory so kubeconfigs stay valid across restarts.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..store import write_atomic


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _generate(host: str) -> dict[str, str]:
    # EC P-256: generation in milliseconds on a busy 2-core machine.
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "drlab (emulated ACK/ASM)"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "drlab kubernetes CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return {"host": host, "ca": _pem(ca), "cert": _pem(cert), "key": _key_pem(key)}


class KubeTls:
    def __init__(self, state_dir: str, host: str):
        self.path = os.path.join(state_dir, "kube_tls.json")
        material = None
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                material = json.load(handle)
        if not material or material.get("host") != host:
            material = _generate(host)
            write_atomic(self.path, json.dumps(material, indent=1))
        self.material = material
        self._files = os.path.join(state_dir, "kube_tls")

    @property
    def ca_pem(self) -> str:
        return self.material["ca"]

    @property
    def ca_data(self) -> str:
        """``certificate-authority-data`` for kubeconfigs."""
        return base64.b64encode(self.ca_pem.encode()).decode()

    def context(self) -> ssl.SSLContext:
        os.makedirs(self._files, mode=0o700, exist_ok=True)
        cert_file = os.path.join(self._files, "server.crt")
        key_file = os.path.join(self._files, "server.key")
        write_atomic(cert_file, self.material["cert"] + self.material["ca"], mode=0o600)
        write_atomic(key_file, self.material["key"], mode=0o600)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context
