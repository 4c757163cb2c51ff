"""Sharing architectures and task weightings as one kind of thing: a name in a registry, a file behind `Method`.

Only the base classes live here, the floor the method files stand on; the registries are looked up
by kind in `mtlops.catalog`, which sits above them.
"""

from mtlops.methods.base import Above, Method, NoParams, Range

__all__ = ["Above", "Method", "NoParams", "Range"]
