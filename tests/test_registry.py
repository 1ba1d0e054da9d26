import warnings

import pytest

from ganzoo.registry import VARIANTS, Registry, UnknownNameError, load_plugins


def make_registry():
    reg = Registry("widget")

    @reg.register("alpha")
    def alpha():
        """Alpha widget.

        More text that is not the one-line description."""

    @reg.register("beta")
    class Beta:
        """Beta widget."""

    return reg


def test_register_get_and_describe():
    reg = make_registry()
    assert reg.names() == ["alpha", "beta"]
    assert reg.get("beta").__name__ == "Beta"
    assert reg.describe() == [("alpha", "Alpha widget."), ("beta", "Beta widget.")]
    assert "alpha" in reg and "gamma" not in reg


def test_unknown_name_lists_valid_names_and_suggests_closest():
    reg = make_registry()
    with pytest.raises(UnknownNameError) as err:
        reg.get("alpah")
    msg = str(err.value)
    assert "unknown widget 'alpah'" in msg
    assert "alpha, beta" in msg
    assert "Did you mean 'alpha'?" in msg
    with pytest.raises(KeyError):  # still a KeyError for callers that expect one
        reg.get("zzz")
    assert "Did you mean" not in Registry("x").unknown_message("zzz")


def test_duplicate_registration_is_an_error():
    reg = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", object())


def test_builtin_variants_are_registered_on_first_lookup():
    assert {"vanilla", "nsgan"} <= set(VARIANTS.names())
    assert VARIANTS.get("nsgan").registered_name == "nsgan"


class _FakeEntryPoint:
    def __init__(self, name, value, loader):
        self.name, self.value, self._loader = name, value, loader

    def load(self):
        return self._loader()


def test_broken_plugin_warns_and_others_still_work(monkeypatch):
    from importlib import metadata

    from ganzoo.variants.base import Variant

    class Good(Variant):
        """A good test plugin."""

        def d_loss(self, r, f):
            return (f - r).mean()

        def g_loss(self, f):
            return -f.mean()

    def broken():
        raise ImportError("no module named 'missing_dependency'")

    eps = [_FakeEntryPoint("broken-plugin", "broken_pkg:Broken", broken),
           _FakeEntryPoint("not-a-variant", "pkg:obj", lambda: object),
           _FakeEntryPoint("good-plugin", "good_pkg:Good", lambda: Good)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = load_plugins()
        assert loaded == ["good-plugin"]
        texts = [str(w.message) for w in caught]
        assert any("broken-plugin" in t and "missing_dependency" in t for t in texts)
        assert any("not-a-variant" in t and "not a subclass" in t for t in texts)
        assert VARIANTS.get("good-plugin") is Good
        assert VARIANTS.get("vanilla")  # the built-ins are untouched
    finally:
        VARIANTS.unregister("good-plugin")
