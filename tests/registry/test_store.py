"""Model references as users type them."""

from __future__ import annotations

import pytest

from mtlops.registry.store import ModelRef, RegistryError


@pytest.mark.parametrize(
    ("text", "name", "alias", "version"),
    [
        ("m@champion", "m", "champion", None),
        ("models:/m@challenger", "m", "challenger", None),
        ("m/3", "m", None, "3"),
        ("models:/m/12", "m", None, "12"),
        ("m@3", "m", None, "3"),
        ("m@v4", "m", None, "4"),
        ("my-model@champion", "my-model", "champion", None),
    ],
)
def test_parse(text, name, alias, version):
    ref = ModelRef.parse(text)
    assert (ref.name, ref.alias, ref.version) == (name, alias, version)
    assert ModelRef.parse(ref.uri) == ref


@pytest.mark.parametrize("text", ["m", "m@", "@champion", "m/x", "models:/m-abc123"])
def test_bad_reference_names_the_forms(text):
    with pytest.raises(RegistryError, match="NAME@ALIAS"):
        ModelRef.parse(text)
