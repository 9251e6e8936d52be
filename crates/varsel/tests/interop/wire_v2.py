"""Checks varsel's published wire format v2 test vectors (schemas/vectors/wire-v2.json) with
implementations nobody on the project wrote: pyhpke for HPKE (RFC 9180) and `cryptography` for
Ed25519 and ChaCha20-Poly1305. Everything is rebuilt from the specification in
crates/protocol/src/envelope/seal.rs, not taken from the file, wherever the file only says what
varsel computed: the associated data, the key blocks (sealed again from ikmE, byte for byte) and
the section ciphertexts. Prints the opened sections as JSON; exits non-zero on any mismatch.

Usage: python3 wire_v2.py schemas/vectors/wire-v2.json
"""

import base64
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

SUITE = CipherSuite.new(
    KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305
)
INFO = b"varsel/v2 key block"
KEY_LEN = 32


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jcs(value):
    """RFC 8785 for the values varsel binds (ASCII strings, lists, objects): sorted keys, no
    whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check(what, got, want):
    if got != want:
        sys.exit(f"MISMATCH {what}:\n  got  {got!r}\n  want {want!r}")


def verify_jws(compact, public_key_b64):
    """RFC 7515 compact JWS with alg Ed25519 (RFC 9864): returns the payload object."""
    header_b64, payload_b64, signature_b64 = compact.split(".")
    header = json.loads(unb64(header_b64))
    check("JWS alg", header["alg"], "Ed25519")
    key = Ed25519PublicKey.from_public_bytes(unb64(public_key_b64))
    key.verify(unb64(signature_b64), f"{header_b64}.{payload_b64}".encode())
    return header, json.loads(unb64(payload_b64))


def key_block(block, message_id, me, secret_hex, public_b64, ikm_e_hex, want_plaintext_hex):
    """Opens a key block with the recipient's secret, then seals the plaintext again from the
    published ikmE and checks that enc and ciphertext come out byte for byte."""
    labels = block["labels"]
    check("labels in code order, each once", labels, sorted(set(labels)))
    aad = jcs({"id": message_id, "labels": labels, "recipient": me})
    skr = SUITE.kem.deserialize_private_key(bytes.fromhex(secret_hex))
    ctx = SUITE.create_recipient_context(unb64(block["enc"]), skr, info=INFO)
    plaintext = ctx.open(unb64(block["ciphertext"]), aad=aad)
    check("key block plaintext", plaintext.hex(), want_plaintext_hex)
    check("key block length", len(plaintext), KEY_LEN * len(labels))

    pkr = SUITE.kem.deserialize_public_key(unb64(public_b64))
    eks = SUITE.kem.derive_key_pair(bytes.fromhex(ikm_e_hex))
    enc, sender = SUITE.create_sender_context(pkr, info=INFO, eks=eks)
    check("key block enc", b64(enc), block["enc"])
    check("key block ciphertext", b64(sender.seal(plaintext, aad=aad)), block["ciphertext"])
    return aad, {l: plaintext[i * KEY_LEN:(i + 1) * KEY_LEN] for i, l in enumerate(labels)}


def published_block(blocks, published, message_id, me, person):
    """The one key block of a message, checked against the published one and opened by `me`."""
    (block,) = blocks
    check(f"key block for {me}", block, published["block"])
    aad, keys = key_block(
        block, message_id, me, person["sealing_secret_hex"], person["sealing_public_key"],
        published["ikmE_hex"], published["plaintext_hex"],
    )
    check(f"key block aad for {me}", aad.decode(), published["aad"])
    return block, keys


def section(payload, s, key):
    aad = jcs({"header": payload["header"], "id": payload["id"], "label": s["label"]})
    check("section aead", s["aead"], "CHACHA20-POLY1305")
    plain = ChaCha20Poly1305(key).decrypt(unb64(s["nonce"]), unb64(s["ciphertext"]), aad)
    return aad, plain


def main(path):
    v = json.load(open(path, encoding="utf-8"))
    people = v["participants"]
    alert, delivery = v["alert"], v["delivery"]

    # The school's alert: signature, the broker's key block, every section.
    header, payload = verify_jws(alert["jws"], people["skola-a"]["signing_public_key"])
    check("alert protected header", json.dumps(header, separators=(",", ":")), alert["jws_protected_header"])
    check("alert v", payload["v"], 2)
    check("alert has no v1 wraps", "wraps" in payload, False)
    broker = people["varsel"]
    _, keys = published_block(payload["keys"], alert["key_block"], payload["id"], "varsel", broker)
    opened = {"alert": {}, "delivery": {}}
    for s, want in zip(payload["sections"], alert["sections"]):
        check("content key", keys[s["label"]].hex(), want["content_key_hex"])
        aad, plain = section(payload, s, keys[s["label"]])
        check("section aad", aad.decode(), want["aad"])
        check("section plaintext", plain.decode(), want["plaintext"])
        # Sealed again with the published key and nonce: the same bytes.
        again = ChaCha20Poly1305(keys[s["label"]]).encrypt(bytes.fromhex(want["nonce_hex"]), plain, aad)
        check("section ciphertext", b64(again), s["ciphertext"])
        opened["alert"][s["label"]] = plain.decode()

    # The broker's delivery to the police: its signature, the school's JWS unchanged inside,
    # the police's key block with exactly the granted sections.
    _, d = verify_jws(delivery["jws"], broker["signing_public_key"])
    check("delivery v", d["v"], 2)
    check("delivery original", d["original"], alert["jws"])
    police = people["polisen"]
    block, keys = published_block(d["keys"], delivery["key_block"], payload["id"], "polisen", police)
    check("delivery recipient", block["recipient"], d["recipient"])
    check("granted", sorted(keys), sorted(delivery["grant"]))
    for s in payload["sections"]:
        if s["label"] in keys:
            _, plain = section(payload, s, keys[s["label"]])
            opened["delivery"][s["label"]] = plain.decode()
    # A key block whose labels were swapped does not open.
    if len(block["labels"]) > 1:
        swapped = dict(block, labels=list(reversed(block["labels"])))
        skr = SUITE.kem.deserialize_private_key(bytes.fromhex(police["sealing_secret_hex"]))
        ctx = SUITE.create_recipient_context(unb64(swapped["enc"]), skr, info=INFO)
        try:
            ctx.open(unb64(swapped["ciphertext"]), aad=jcs({"id": payload["id"], "labels": swapped["labels"], "recipient": "polisen"}))
        except Exception:
            pass
        else:
            sys.exit("a key block with swapped labels opened")
    print(json.dumps(opened, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
