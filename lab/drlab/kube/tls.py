"""TLS for the Kubernetes APIs: a lab CA, a serving certificate for the lab host, client certificates.

Plain HTTP is not an option: client-go (kubectl) only sends a kubeconfig's bearer
token over TLS, and the real ACK/ASM API servers are HTTPS.  The CA is kept in
the lab directory so kubeconfigs stay valid across restarts.

ACK (DescribeClusterUserKubeconfig) and ASM (DescribeServiceMeshKubeconfig, whose ``ExpireTime``
is "the expiration time of the kubeconfig certificate", alibabacloud_servicemesh20200111
models.py) hand out kubeconfigs with ``client-certificate-data``/``client-key-data``.  The lab
does the same: one client certificate per API server, signed by the lab CA, subject CN = user
and O = groups, the way kube-apiserver's x509 authenticator reads it
(https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates).
Each cluster has its own CA on the cloud; here one CA signs for all, so a certificate is only
accepted by the server it was issued for (its serial number is recorded per server).
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
    return {"host": host, "ca": _pem(ca), "ca_key": _key_pem(ca_key), "cert": _pem(cert), "key": _key_pem(key),
            "clients": {}}


CLIENT_DAYS = 3 * 365  # ASM's mesh kubeconfig certificate is valid for three years (ExpireTime)


def _issue_client(material: dict, user: str, groups: list[str]) -> dict:
    ca = x509.load_pem_x509_certificate(material["ca"].encode())
    ca_key = serialization.load_pem_private_key(material["ca_key"].encode(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    serial = x509.random_serial_number()
    expires = now + datetime.timedelta(days=CLIENT_DAYS)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(expires)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    return {"cert": _pem(cert), "key": _key_pem(key), "serial": format(serial, "X"), "user": user,
            "groups": groups, "expires": expires.timestamp()}


class KubeTls:
    def __init__(self, state_dir: str, host: str):
        self.path = os.path.join(state_dir, "kube_tls.json")
        material = None
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                material = json.load(handle)
        # Material from before client certificates kept no CA key: start a new CA (kubeconfigs are rewritten).
        if not material or material.get("host") != host or "ca_key" not in material:
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

    def client_certificate(self, server_id: str, user: str, groups: list[str]) -> dict:
        """The client certificate of ``server_id`` (issued once, kept across restarts)."""
        clients = self.material.setdefault("clients", {})
        current = clients.get(server_id)
        if current is None or current.get("user") != user or current.get("groups") != groups:
            current = clients[server_id] = _issue_client(self.material, user, groups)
            write_atomic(self.path, json.dumps(self.material, indent=1))
        return current

    def forget_client(self, server_id: str) -> None:
        if self.material.get("clients", {}).pop(server_id, None) is not None:
            write_atomic(self.path, json.dumps(self.material, indent=1))

    def authenticate(self, server_id: str, peercert: dict | None) -> tuple[str, list[str]] | None:
        """(user, groups) of a verified client certificate issued for this server, else None.

        ``peercert`` is what ssl gives after the handshake verified the chain against the lab CA.
        """
        if not peercert:
            return None
        issued = self.material.get("clients", {}).get(server_id)
        if issued is None or peercert.get("serialNumber", "").lstrip("0").upper() != issued["serial"].lstrip("0"):
            return None
        names = [item for rdn in peercert.get("subject", ()) for item in rdn]
        user = next((value for key, value in names if key == "commonName"), "")
        return (user, [value for key, value in names if key == "organizationName"]) if user else None

    def context(self) -> ssl.SSLContext:
        os.makedirs(self._files, mode=0o700, exist_ok=True)
        cert_file = os.path.join(self._files, "server.crt")
        key_file = os.path.join(self._files, "server.key")
        write_atomic(cert_file, self.material["cert"] + self.material["ca"], mode=0o600)
        write_atomic(key_file, self.material["key"], mode=0o600)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        # Ask for a client certificate, verified against the lab CA; bearer-token clients send none.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self.material["ca"])
        return context
