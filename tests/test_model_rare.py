"""The call model's rarely set attributes: kept in a holder per object, read and written as
the object's own through properties written out in ``model`` (so mypyc can compile the
classes as native ones).

Every attribute of a holder class must have its property on the owner, with the holder's
default, and a write of a default must not make a holder: the plain call's objects stay
without one (``obj.rare is None``), which paths every call takes test instead of reading
the attributes one by one.
"""

import inspect

import pytest

from rtpengined import model

OWNERS = [
    (model.Stream, model.StreamRare,
     lambda: model.Stream(model.Interface("default", "127.0.0.1", "127.0.0.1"), 30000)),
    (model.CallMedia, model.CallMediaRare, lambda: model.CallMedia(1, "audio", "RTP/AVP")),
    (model.Monologue, model.MonologueRare, lambda: model.Monologue("tag", 0.0)),
]


def _holder_names(cls: type) -> list[str]:
    """The attributes a class declares (a compiled build's native class lists them in
    ``__mypyc_attrs__``, the pure one in its annotations)."""
    return list(vars(cls).get("__mypyc_attrs__", ()) or vars(cls).get("__annotations__", {}))


def _other_value(default):
    """A value of the attribute's kind that is not its default."""
    if default is None:
        return ("set",)
    if isinstance(default, bool):
        return not default
    if isinstance(default, str):
        return default + "-changed"
    if isinstance(default, frozenset):
        return frozenset({"x"})
    if isinstance(default, tuple):
        return ("x",)
    raise AssertionError(f"no other value for {default!r}")


@pytest.mark.parametrize("owner, holder, make", OWNERS, ids=[o[0].__name__ for o in OWNERS])
def test_every_holder_attribute_is_a_property_of_its_owner(owner, holder, make):
    names = _holder_names(holder)
    assert len(names) > 10
    for name in names:
        # (a property; compiled, a native class's getter/setter pair)
        assert inspect.isdatadescriptor(getattr(owner, name)), name
    # ... and none is a field of the owner as well (it would take a slot in every object)
    assert not set(names) & set(_holder_names(owner))


@pytest.mark.parametrize("owner, holder, make", OWNERS, ids=[o[0].__name__ for o in OWNERS])
def test_defaults_read_without_a_holder_and_writes_of_defaults_make_none(owner, holder, make):
    obj = make()
    defaults = holder()
    for name in _holder_names(holder):
        assert getattr(obj, name) == getattr(defaults, name), name
        setattr(obj, name, getattr(defaults, name))
    assert obj.rare is None


@pytest.mark.parametrize("owner, holder, make", OWNERS, ids=[o[0].__name__ for o in OWNERS])
def test_each_attribute_is_kept_in_the_objects_own_holder(owner, holder, make):
    defaults = holder()
    for name in _holder_names(holder):
        obj, other = make(), make()
        value = _other_value(getattr(defaults, name))
        setattr(obj, name, value)
        assert obj.rare is not None and getattr(obj, name) == value, name
        assert other.rare is None and getattr(other, name) == getattr(defaults, name), name
        # once there is a holder, a default written back is kept too
        setattr(obj, name, getattr(defaults, name))
        assert getattr(obj, name) == getattr(defaults, name), name
    # the shared defaults every object without a holder reads were only read
    shared = {model.StreamRare: model._NO_STREAM_RARE, model.CallMediaRare: model._NO_MEDIA_RARE,
              model.MonologueRare: model._NO_PARTY_RARE}[holder]
    assert all(getattr(shared, n) == getattr(defaults, n) for n in _holder_names(holder))


def test_a_value_of_another_type_than_the_default_is_kept():
    """0 is not the default False, () not None: each makes a holder and reads back as it
    was written (as ``rare_fields`` keeps them)."""
    media = model.CallMedia(1, "audio", "RTP/AVP")
    media.crypto_accepted = []
    assert media.rare is not None and media.crypto_accepted == []
    party = model.Monologue("tag", 0.0)
    party.quality = {}
    assert party.rare is not None and party.quality == {}
