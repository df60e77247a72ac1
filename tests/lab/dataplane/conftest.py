"""Fixtures for the data plane tests (the lab world lives in dp_world)."""

from dp_world import world  # noqa: F401 - a pytest fixture
