"""The registry tests' trained tiny project (binary, multiclass, masked regression), registered and promoted."""

from tests.registry.conftest import copy_project, own_store, served, trained  # noqa: F401 (fixtures)
