import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.compute_api.helpers import V
from tests.conftest import Cloud


def _ed25519_public() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


async def test_generate_returns_private_key_once(cloud: Cloud) -> None:
    h = cloud.headers(cloud.demo_token, "2.10")
    r = await cloud.client.post(f"{V}/os-keypairs", json={"keypair": {"name": "k1"}}, headers=h)
    assert r.status_code == 201, r.text
    kp = r.json()["keypair"]
    assert kp["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert kp["public_key"].startswith("ssh-rsa ")
    assert kp["type"] == "ssh" and kp["user_id"] == cloud.seeded.demo_user_id
    r = await cloud.client.get(f"{V}/os-keypairs/k1", headers=h)
    shown = r.json()["keypair"]
    assert "private_key" not in shown
    assert shown["fingerprint"] == kp["fingerprint"]
    r = await cloud.client.get(f"{V}/os-keypairs", headers=h)
    assert [k["keypair"]["name"] for k in r.json()["keypairs"]] == ["k1"]
    r = await cloud.client.delete(f"{V}/os-keypairs/k1", headers=h)
    assert r.status_code == 204
    r = await cloud.client.get(f"{V}/os-keypairs/k1", headers=h)
    assert r.status_code == 404


async def test_import_fingerprint_and_v21_shape(cloud: Cloud) -> None:
    public = _ed25519_public()
    body = {"keypair": {"name": "imp", "public_key": public}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=cloud.demo)
    assert r.status_code == 200  # 2.1: 200, no type
    kp = r.json()["keypair"]
    assert "type" not in kp and "private_key" not in kp
    blob = base64.b64decode(public.split()[1])
    expected = ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    assert kp["fingerprint"] == expected
    r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=cloud.demo)
    assert r.status_code == 409
    r = await cloud.client.delete(f"{V}/os-keypairs/imp", headers=cloud.demo)
    assert r.status_code == 202


async def test_keypairs_are_per_user(cloud: Cloud) -> None:
    body = {"keypair": {"name": "mine", "public_key": _ed25519_public()}}
    await cloud.client.post(f"{V}/os-keypairs", json=body, headers=cloud.demo)
    r = await cloud.client.get(f"{V}/os-keypairs/mine", headers=cloud.admin)
    assert r.status_code == 404
    h = cloud.headers(cloud.admin_token, "2.10")
    r = await cloud.client.get(
        f"{V}/os-keypairs/mine?user_id={cloud.seeded.demo_user_id}", headers=h
    )
    assert r.status_code == 200
    h = cloud.headers(cloud.demo_token, "2.10")
    r = await cloud.client.get(f"{V}/os-keypairs?user_id={cloud.seeded.admin_user_id}", headers=h)
    assert r.status_code == 403


async def test_bad_input_names_field(cloud: Cloud) -> None:
    cases = [
        ({"name": "k", "public_key": "ssh-rsa garbage"}, "public_key"),
        ({"name": "bad/name", "public_key": _ed25519_public()}, "name"),
        ({"name": "", "public_key": _ed25519_public()}, "name"),
        ({"name": "k", "public_key": _ed25519_public(), "extra": 1}, "extra"),
        ({"name": "k", "type": "ssh"}, "type"),  # type needs 2.2
    ]
    for body, field in cases:
        r = await cloud.client.post(f"{V}/os-keypairs", json={"keypair": body}, headers=cloud.demo)
        assert r.status_code == 400, body
        assert field in r.json()["badRequest"]["message"]
    h = cloud.headers(cloud.demo_token, "2.2")
    r = await cloud.client.post(
        f"{V}/os-keypairs", json={"keypair": {"name": "k", "type": "pgp"}}, headers=h
    )
    assert r.status_code == 400 and "type" in r.text
    r = await cloud.client.get(f"{V}/os-keypairs", headers=cloud.demo)
    assert r.json()["keypairs"] == []


async def test_keypair_quota(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    r = await cloud.client.put(
        f"{V}/os-quota-sets/{project}", json={"quota_set": {"key_pairs": 1}}, headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    for name, status in (("a", 200), ("b", 403)):
        body = {"keypair": {"name": name, "public_key": _ed25519_public()}}
        r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=cloud.demo)
        assert r.status_code == status
    assert "Quota exceeded for key_pairs" in r.json()["forbidden"]["message"]


async def test_x509_keypair(cloud: Cloud) -> None:
    h = cloud.headers(cloud.demo_token, "2.2")
    body = {"keypair": {"name": "cert", "type": "x509"}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=h)
    assert r.status_code == 201, r.text
    kp = r.json()["keypair"]
    assert kp["type"] == "x509" and kp["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    imported = {"keypair": {"name": "cert2", "type": "x509", "public_key": kp["public_key"]}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=imported, headers=h)
    assert r.json()["keypair"]["fingerprint"] == kp["fingerprint"]
    bad = {"keypair": {"name": "cert3", "type": "x509", "public_key": "nope"}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=bad, headers=h)
    assert r.status_code == 400 and "public_key" in r.text


async def test_unsupported_microversion_is_refused(cloud: Cloud) -> None:
    r = await cloud.client.get(f"{V}/os-keypairs", headers=cloud.headers(cloud.demo_token, "2.99"))
    assert r.status_code == 406


async def test_keypair_pagination(cloud: Cloud) -> None:
    for name in ("a", "b", "c"):
        body = {"keypair": {"name": name, "public_key": _ed25519_public()}}
        await cloud.client.post(f"{V}/os-keypairs", json=body, headers=cloud.demo)
    h = cloud.headers(cloud.demo_token, "2.35")
    r = await cloud.client.get(f"{V}/os-keypairs?limit=2", headers=h)
    assert [k["keypair"]["name"] for k in r.json()["keypairs"]] == ["a", "b"]
    r = await cloud.client.get(f"{V}/os-keypairs?marker=b", headers=h)
    assert [k["keypair"]["name"] for k in r.json()["keypairs"]] == ["c"]
    r = await cloud.client.get(f"{V}/os-keypairs?limit=2", headers=cloud.demo)
    assert r.status_code == 400


async def test_public_key_required_from_2_92(cloud: Cloud) -> None:
    h92 = cloud.headers(cloud.demo_token, "2.92")
    r = await cloud.client.post(f"{V}/os-keypairs", json={"keypair": {"name": "gen"}}, headers=h92)
    assert r.status_code == 400 and "'public_key' is a required property" in r.text
    r = await cloud.client.get(f"{V}/os-keypairs", headers=h92)
    assert r.json()["keypairs"] == []  # nothing was generated
    body = {"keypair": {"name": "me@laptop.key", "public_key": _ed25519_public()}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=h92)
    assert r.status_code == 201 and "private_key" not in r.json()["keypair"], r.text
    # Before 2.92: generated on request, and '@' is not a name character yet.
    h91 = cloud.headers(cloud.demo_token, "2.91")
    r = await cloud.client.post(f"{V}/os-keypairs", json={"keypair": {"name": "gen"}}, headers=h91)
    assert r.status_code == 201 and r.json()["keypair"]["private_key"]
    body = {"keypair": {"name": "a@b", "public_key": _ed25519_public()}}
    r = await cloud.client.post(f"{V}/os-keypairs", json=body, headers=h91)
    assert r.status_code == 400 and "name" in r.text
