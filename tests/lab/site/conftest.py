"""The site tests run the whole site.yml (minutes each): only with MESHDR_SITE_TESTS=1 (`make site-tests`)."""

import os

import pytest
import site_support as site

from drlab.testing import LabHandle


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MESHDR_SITE_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="site.yml end-to-end tests: run with `make site-tests` (MESHDR_SITE_TESTS=1)")
    for item in items:
        if "tests/lab/site/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture
def lab2():
    """A fresh two-region lab of the site topology, stopped afterwards."""
    lab = LabHandle(topology=site.topology()).up()
    try:
        yield lab
    finally:
        lab.down()
