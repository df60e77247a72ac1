"""The site tests run the whole site.yml (minutes each): only with MESHDR_SITE_TESTS=1 (`make site-tests`)."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MESHDR_SITE_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="site.yml end-to-end tests: run with `make site-tests` (MESHDR_SITE_TESTS=1)")
    for item in items:
        if "tests/lab/site/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
