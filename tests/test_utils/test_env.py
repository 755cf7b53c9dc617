"""utils/env.py: the offline switch (environment and --offline) and what produced a result
(library versions, the git commit with a -dirty mark)."""
import os
import subprocess

import pytest

import spikeclip
from spikeclip.utils.env import OFFLINE_ENV, collect_env, git_commit, offline, set_offline


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    return monkeypatch


@pytest.mark.parametrize('value,expected', [('1', True), ('true', True), (' Yes ', True),
                                            ('ON', True), ('0', False), ('', False),
                                            ('no', False)])
def test_offline_reads_the_environment(clean_env, value, expected):
    clean_env.setenv(OFFLINE_ENV, value)
    assert offline() is expected


def test_the_hub_switch_counts_only_where_asked(clean_env):
    clean_env.setenv('HF_HUB_OFFLINE', '1')
    assert not offline() and offline(hub=True)


def test_set_offline_forbids_downloads_here_and_in_child_processes(clean_env):
    set_offline(False)  # neither --offline nor the environment: nothing changes
    assert OFFLINE_ENV not in os.environ and not offline(hub=True)
    set_offline()
    assert os.environ[OFFLINE_ENV] == '1' and os.environ['HF_HUB_OFFLINE'] == '1'
    assert offline() and offline(hub=True)
    clean_env.delenv('HF_HUB_OFFLINE')
    clean_env.setenv(OFFLINE_ENV, 'yes')
    set_offline(False)  # the environment already says so: the hub is switched off too
    assert os.environ['HF_HUB_OFFLINE'] == '1'


def _git(repo, *args):
    subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', *args], cwd=repo,
                   check=True, capture_output=True)


def test_git_commit_marks_uncommitted_changes(tmp_path):
    assert git_commit(str(tmp_path)) is None  # not a checkout
    _git(tmp_path, 'init', '-q')
    (tmp_path / 'a.txt').write_text('one')
    _git(tmp_path, 'add', 'a.txt')
    _git(tmp_path, 'commit', '-q', '-m', 'one')
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_commit(str(tmp_path)) == head
    (tmp_path / 'untracked.txt').write_text('ignored')
    assert git_commit(str(tmp_path)) == head  # untracked files do not count
    (tmp_path / 'a.txt').write_text('two')
    assert git_commit(str(tmp_path)) == head + '-dirty'


def test_collect_env_names_the_versions_that_shape_results():
    env = collect_env()
    assert set(env) == {'versions', 'git_commit', 'platform'}
    versions = env['versions']
    assert versions['spikeclip'] == spikeclip.__version__
    assert versions['torch'] and versions['mmengine'] and versions['python'].count('.') == 2
