import importlib.util
import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spikeclip.datasets import fetch, load_class_names
from spikeclip.datasets.fetch import FetchError, fetch_uhsr, install_uhsr, safe_extract
from spikeclip.datasets.uhsr import UHSRDataset
from spikeclip.fileio import write_npz

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'fetch_data.py'


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args):
        raise AssertionError('the tests must not download anything')
    monkeypatch.setattr(fetch, 'download_gdrive', refuse)
    monkeypatch.setattr(UHSRDataset, 'TRAIN_SIZE', 2)  # 4 files per set: 2 train + 2 test


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('fetch_data_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tree(tmp_path):
    """``UHSR/U-CALTECH`` and ``UHSR/U-CIFAR`` with 4 numbered npz files each."""
    src = tmp_path / 'src'
    for name, classes in (('U-CALTECH', 'ucaltech'), ('U-CIFAR', 'ucifar')):
        (src / 'UHSR' / name).mkdir(parents=True)
        for i in range(4):
            spk = (np.random.default_rng(i).random((4, 6, 6)) > 0.5).astype(np.uint8)
            write_npz(str(src / 'UHSR' / name / f'{i}.npz'), spk, i,
                      load_class_names(classes)[i])
    return src


def make_archive(src, path, kind):
    if kind == 'zip':
        with zipfile.ZipFile(path, 'w') as zf:
            for f in sorted(src.rglob('*')):
                zf.write(f, f.relative_to(src).as_posix())
    else:
        with tarfile.open(path, 'w:gz') as tf:
            tf.add(src / 'UHSR', arcname='UHSR')
    return str(path)


@pytest.mark.parametrize('kind', ['zip', 'tar.gz'])
def test_unpack_and_verify(tree, tmp_path, kind):
    archive = make_archive(tree, tmp_path / f'uhsr.{kind}', kind)
    data = tmp_path / 'data'
    counts = install_uhsr(archive, str(data))
    assert counts == {'U-CALTECH': {'train': 2, 'test': 2}, 'U-CIFAR': {'train': 2, 'test': 2}}
    assert sorted(os.listdir(data / 'U-CIFAR')) == ['0.npz', '1.npz', '2.npz', '3.npz']
    assert sorted(os.listdir(data)) == ['U-CALTECH', 'U-CIFAR']  # no staging left behind


def test_nested_archives(tree, tmp_path):
    inner = tmp_path / 'inner'
    inner.mkdir()
    shutil.make_archive(str(inner / 'U-CALTECH'), 'zip', tree / 'UHSR', 'U-CALTECH')
    shutil.make_archive(str(inner / 'U-CIFAR'), 'gztar', tree / 'UHSR', 'U-CIFAR')
    outer = shutil.make_archive(str(tmp_path / 'outer'), 'zip', inner)
    counts = install_uhsr(outer, str(tmp_path / 'data'))
    assert counts['U-CALTECH']['train'] == 2 and counts['U-CIFAR']['test'] == 2


def test_corrupt_archives(tree, tmp_path):
    garbage = tmp_path / 'garbage.zip'
    garbage.write_bytes(b'this is not an archive' * 10)
    with pytest.raises(FetchError, match='garbage.zip: not a zip or tar archive'):
        safe_extract(str(garbage), str(tmp_path / 'x'))
    good = make_archive(tree, tmp_path / 'a.tar.gz', 'tar.gz')
    truncated = tmp_path / 'truncated.tar.gz'
    truncated.write_bytes(Path(good).read_bytes()[:300])
    with pytest.raises(FetchError, match='truncated.tar.gz: (corrupt or truncated|not a zip)'):
        safe_extract(str(truncated), str(tmp_path / 'y'))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr('U-CIFAR/0.npz', b'A' * 1000)
    raw = bytearray(buf.getvalue())
    raw[raw.index(b'A' * 10) + 5] = ord('B')  # flip a byte of the member data
    flipped = tmp_path / 'flipped.zip'
    flipped.write_bytes(bytes(raw))
    with pytest.raises(FetchError, match=r"flipped.zip: member 'U-CIFAR/0.npz' is corrupt"):
        safe_extract(str(flipped), str(tmp_path / 'z'))


def test_path_traversal_refused(tmp_path):
    dest = tmp_path / 'dest'
    evil_zip = tmp_path / 'evil.zip'
    with zipfile.ZipFile(evil_zip, 'w') as zf:
        zf.writestr('ok.txt', 'fine')
        zf.writestr('../escaped.txt', 'bad')
    with pytest.raises(FetchError, match=r"member '\.\./escaped.txt' would be written outside"):
        safe_extract(str(evil_zip), str(dest))
    for name, kind in (('/tmp/abs_escape.txt', tarfile.REGTYPE),
                       ('a/../../up.txt', tarfile.REGTYPE), ('link', tarfile.SYMTYPE)):
        path = tmp_path / 'evil.tar'
        with tarfile.open(path, 'w') as tf:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = '/etc/passwd'
                tf.addfile(info)
            else:
                info.size = 3
                tf.addfile(info, io.BytesIO(b'bad'))
        with pytest.raises(FetchError, match='outside|link'):
            safe_extract(str(path), str(dest))
    assert not (tmp_path / 'escaped.txt').exists() and not (tmp_path / 'up.txt').exists()
    assert not os.path.exists('/tmp/abs_escape.txt')
    assert not dest.exists() or not any(dest.iterdir())  # nothing unpacked before the check


def test_verify_reports_missing_and_bad_sets(tree, tmp_path):
    data = tmp_path / 'data'
    shutil.copytree(tree / 'UHSR' / 'U-CALTECH', data / 'U-CALTECH')
    only_caltech = shutil.make_archive(str(tmp_path / 'half'), 'zip', tree / 'UHSR', 'U-CALTECH')
    with pytest.raises(FetchError, match='no U-CIFAR folder inside the archive'):
        install_uhsr(only_caltech, str(data))
    (data / 'U-CIFAR').mkdir()
    with pytest.raises(FetchError, match=r'U-CIFAR \(train split\) does not verify: .*no .npz'):
        fetch.verify_uhsr(str(data))


def test_fetch_with_a_stub_downloader(tree, tmp_path):
    archive = make_archive(tree, tmp_path / 'uhsr.zip', 'zip')
    seen = []

    def downloader(file_id, dest):
        seen.append(file_id)
        shutil.copy(archive, dest)
        return dest

    data = tmp_path / 'data'
    counts = fetch_uhsr(str(data), downloader=downloader)
    assert seen == [fetch.UHSR_FILE_ID] and counts['U-CALTECH']['test'] == 2
    assert not (data / 'UHSR.download').exists()  # the download is removed after unpacking
    assert fetch_uhsr(str(data), downloader=downloader) == counts and len(seen) == 1


def test_tool_without_network_explains_and_fails(tool, tmp_path, monkeypatch, capsys):
    def offline(file_id, dest):
        raise FetchError('download of Google Drive file failed: ConnectionError: no network')
    monkeypatch.setattr(fetch, 'download_gdrive', offline)
    assert tool.main(['--out-dir', str(tmp_path / 'data')]) == 1
    err = capsys.readouterr().err
    assert 'no network' in err and fetch.UHSR_FILE_ID in err and 'U-CALTECH' in err
    assert 'Traceback' not in err


def test_tool_with_local_archive(tool, tree, tmp_path, capsys):
    archive = make_archive(tree, tmp_path / 'uhsr.tar.gz', 'tar.gz')
    assert tool.main(['--out-dir', str(tmp_path / 'data'), '--archive', archive]) == 0
    assert 'U-CIFAR: 2 train + 2 test samples' in capsys.readouterr().out
    assert os.path.isfile(archive)  # a local archive is never deleted
