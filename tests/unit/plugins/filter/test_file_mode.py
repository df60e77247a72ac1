"""meshdr.alicloud.file_mode: what ansible.builtin.stat's stat.mode would say, on the controller."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshdr.alicloud.plugins.filter.file_mode import FilterModule, file_mode


def test_mode_of_a_file_a_link_and_nothing(tmp_path):
    private = tmp_path / "kubeconfig"
    private.write_text("x")
    os.chmod(private, 0o600)
    assert file_mode(str(private)) == "0600"
    os.chmod(private, 0o644)
    assert file_mode(str(private)) == "0644"
    link = tmp_path / "link"
    link.symlink_to(private)
    assert file_mode(str(link)) == "0644"  # followed, as stat with follow=true
    assert file_mode(str(tmp_path / "missing")) == ""
    assert FilterModule().filters()["file_mode"] is file_mode


def test_a_non_path_is_refused():
    with pytest.raises(AnsibleFilterError, match="expects a path"):
        file_mode(None)
