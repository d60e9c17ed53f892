"""Attributes most objects of a class leave at their default, kept out of those objects.

A slotted object pays 8 bytes per attribute whether it is set or not. A relay worker's
streams (``media.worker``) carry SRTP, WebRTC, subscriber and conversion state that a plain
SIP call never sets. ``add_rare_fields`` moves such attributes into a holder object that
exists only once one of them is set to something else than its default; until then reading
one gives the default (``obj.rare is None``: all of them have theirs). Readers and writers
keep using plain attribute syntax, and a dataclass declares them with the rest::

    @dataclass(slots=True)
    @rare_fields
    class Leg:
        index: int
        sdes: bool = rare(False)  # a property now, not a slot or an __init__ argument

The price is a property call per access (tens of nanoseconds), paid only on these
attributes, which the per-packet paths do not read. The call model (``model``) does the
same with properties written out, which mypyc compiles: properties made here at import
would keep its classes from being native ones.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

# One getter and setter per attribute, made like dataclasses makes ``__init__``: a plain
# function reading one slot is faster than a generic one taking the name as data.
_ACCESSORS = """
def get(self):
    rare = self.rare
    return DEFAULT if rare is None else rare.{name}

def set(self, value):
    rare = self.rare
    if rare is None:
        if value is DEFAULT or (type(value) is type(DEFAULT) and value == DEFAULT):
            return  # (still the default: no holder needed)
        rare = self.rare = Holder()
    rare.{name} = value
"""


def add_rare_fields(owner: type, defaults: dict[str, Any]) -> type:
    """Give ``owner`` (which has a ``rare`` slot, initially None) a property per name in
    ``defaults``, stored in a holder made on the first non-default assignment.

    Defaults must be immutable (None, False, 0, (), a frozen value): every object without a
    holder shares them. Returns the holder class.
    """
    for name, default in defaults.items():
        if isinstance(default, list | dict | set):
            raise TypeError(f"{owner.__name__}.{name}: a rare field's default must be immutable")
        if hasattr(owner, name):
            raise TypeError(f"{owner.__name__}.{name} is defined already")

    def __init__(self: Any) -> None:
        for name, default in defaults.items():
            setattr(self, name, default)

    holder = type(f"{owner.__name__}Rare", (), {
        "__slots__": tuple(defaults), "__init__": __init__,
        "__doc__": f"The rarely set attributes of one {owner.__name__}.",
    })
    for name, default in defaults.items():
        scope: dict[str, Any] = {"DEFAULT": default, "Holder": holder}
        # (named after the attribute: profiles and tracebacks tell the properties apart)
        code = compile(_ACCESSORS.format(name=name), f"<rare {owner.__name__}.{name}>", "exec")
        exec(code, scope)  # noqa: S102 (names are our own literals)
        setattr(owner, name, property(scope["get"], scope["set"], doc=f"(rare) {name}"))
    return holder


class _Rare:
    __slots__ = ("default",)

    def __init__(self, default: Any) -> None:
        self.default = default


def rare(default: Any) -> Any:
    """Marks a class attribute as rarely set (see ``rare_fields``); ``default`` is its value
    until set."""
    return _Rare(default)


def rare_fields(cls: type) -> type:
    """Class decorator, under ``@dataclass``: the attributes declared ``= rare(default)``
    become properties over a holder (``add_rare_fields``) instead of dataclass fields; a
    ``rare`` field (not an ``__init__`` argument) refers to that holder. ``obj.rare is None``
    is the cheap test that every rare attribute of ``obj`` still has its default: paths every
    plain call takes use it to skip reading them one by one."""
    annotations = cls.__dict__["__annotations__"]  # (the class's own: it declares fields)
    defaults = {}
    for name, value in list(cls.__dict__.items()):
        if isinstance(value, _Rare):
            defaults[name] = value.default
            delattr(cls, name)
            annotations.pop(name, None)
    annotations["rare"] = "Any"
    cls.rare = field(default=None, init=False, repr=False, compare=False)  # type: ignore[attr-defined]
    add_rare_fields(cls, defaults)
    return cls
