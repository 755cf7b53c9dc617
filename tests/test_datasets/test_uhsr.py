import os

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from spikeclip.datasets import UHSRDataset, load_class_names
from spikeclip.fileio import write_npz
from spikeclip.registry import DATASETS
from spikeclip.structures import SpikeDataSample
from spikeclip.utils.errors import ConfigError, SpikeFormatError

T, H, W = 8, 12, 12


UCIFAR = load_class_names('ucifar')


def make_set(root, stems, labels=None, label_name=None):
    """Numbered npz files; the spikes of file ``s`` are all ones in frame ``s % T``; labels
    ``s % 10`` named as in U-CIFAR unless ``label_name`` is given."""
    os.makedirs(root, exist_ok=True)
    for i, stem in enumerate(stems):
        spk = np.zeros((T, H, W), np.uint8)
        spk[int(stem) % T] = 1
        spk[:, 0, 0] = 1  # a marker in the top-left corner, removed by a centre crop
        label = labels[i] if labels is not None else int(stem) % 10
        write_npz(os.path.join(root, f'{stem}.npz'), spk, label,
                  UCIFAR[label] if label_name is None else label_name)
    return str(root)


@pytest.fixture
def flat(tmp_path):
    return make_set(tmp_path / 'U-CIFAR', list(range(12)))


def test_item_layout_and_collate(flat):
    ds = UHSRDataset(flat, 'train', classes='ucifar', train_size=8)
    assert ds.metainfo['classes'][:3] == ('frog', 'horse', 'dog')
    item = ds[3]
    spikes, sample = item['inputs'], item['data_samples']
    assert spikes.dtype == torch.uint8 and spikes.shape == (T, H, W)
    assert set(spikes.unique().tolist()) <= {0, 1}
    assert isinstance(sample, SpikeDataSample)
    assert int(sample.gt_label) == 3 and sample.label_name == 'truck'
    assert sample.spike_path.endswith('3.npz') and sample.sample_idx == 3
    assert sample.ori_shape == (H, W)
    assert 'gt_img' not in sample
    batch = pseudo_collate([ds[0], ds[1]])
    assert len(batch['inputs']) == 2 and len(batch['data_samples']) == 2


def test_numeric_sort_and_split_boundary(flat):
    train = UHSRDataset(flat, 'train', classes='ucifar', train_size=8)
    test = UHSRDataset(flat, 'test', classes='ucifar', train_size=8)
    stems = [int(os.path.basename(f)[:-4]) for f in train.files + test.files]
    assert stems == list(range(12))  # 2 before 10 (a string sort puts 10 first)
    assert len(train) == 8 and len(test) == 4
    assert test[0]['data_samples'].spike_path.endswith(os.sep + '8.npz')
    assert UHSRDataset.TRAIN_SIZE == 5000  # the paper's split: 0-4999 train
    assert len(UHSRDataset(flat, 'trainval', classes='ucifar')) == 12


def test_split_subfolders_used_as_they_are(tmp_path):
    make_set(tmp_path / 'train', [0, 1, 2])
    make_set(tmp_path / 'test', [7000, 7001])
    assert len(UHSRDataset(str(tmp_path), 'train', classes='ucifar')) == 3
    assert len(UHSRDataset(str(tmp_path), 'test', classes='ucifar')) == 2


def test_crop_and_frames(flat):
    ds = UHSRDataset(flat, 'train', classes='ucifar', crop_size=8, window=4, train_size=8)
    spikes = ds[5]['inputs']
    assert spikes.shape == (4, 8, 8)
    # the centre 4 of 8 frames are frames 2..5; file 5 fires in frame 5, the marker is cropped
    assert spikes[3].all() and not spikes[:3].any()
    with pytest.raises(SpikeFormatError, match='window=9'):
        UHSRDataset(flat, classes='ucifar', window=9, train_size=8)[0]
    # the old name (the same length as PairedSpikeDataset's window) still works, with a warning
    with pytest.warns(DeprecationWarning, match='num_frames is deprecated, use window'):
        old = UHSRDataset(flat, 'train', classes='ucifar', crop_size=8, num_frames=4,
                          train_size=8)
    assert torch.equal(old[5]['inputs'], spikes)
    with pytest.raises(ConfigError, match='window=3 and num_frames=4 disagree'):
        UHSRDataset(flat, classes='ucifar', window=3, num_frames=4, train_size=8)
    with pytest.raises(ConfigError, match='crop_size=20'):
        UHSRDataset(flat, classes='ucifar', crop_size=20, train_size=8)[0]


def test_registered_and_lazy(flat, monkeypatch):
    import spikeclip.datasets.uhsr as uhsr
    calls = []
    monkeypatch.setattr(uhsr, 'read_npz', lambda *a, **k: calls.append(a) or None)
    ds = DATASETS.build(dict(type='UHSRDataset', data_root=flat, classes='ucifar'))
    assert isinstance(ds, UHSRDataset) and not calls  # nothing read when building


def test_class_lists():
    caltech = load_class_names('ucaltech')
    assert len(caltech) == 101 and caltech[-1] == 'background'
    assert caltech[:3] == ('accordion', 'airplanes', 'anchor')
    assert {'Leopards', 'Motorbikes', 'faces'} <= set(caltech)
    assert load_class_names('ucifar') == ('frog', 'horse', 'dog', 'truck', 'airplane',
                                          'automobile', 'bird', 'ship', 'cat', 'deer')


def test_class_list_from_file_and_list(flat, tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text('# my classes\n' + '\n'.join(f'c{i}' for i in range(10)) + '\n\n')
    ds = UHSRDataset(flat, classes=str(path), train_size=8, check_label_names=False)
    assert ds[4]['data_samples'].label_name == 'c4'
    ds = UHSRDataset(flat, classes=[f'k{i}' for i in range(10)], train_size=8)
    assert ds.metainfo['classes'][9] == 'k9'


def test_errors(tmp_path, flat):
    missing = str(tmp_path / 'nope')
    with pytest.raises(SpikeFormatError, match='nope: no such data folder'):
        UHSRDataset(missing)
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('hi')
    with pytest.raises(SpikeFormatError, match='empty: the folder holds no .npz files'):
        UHSRDataset(str(empty))
    with pytest.raises(ConfigError, match='absent.txt'):
        UHSRDataset(flat, classes=str(tmp_path / 'absent.txt'))
    with pytest.raises(ConfigError, match='split'):
        UHSRDataset(flat, split='validation')
    # labels 0-9 with a 3-name list: a label beyond the list names the file and the list
    ds = UHSRDataset(flat, classes=['a', 'b', 'c'], train_size=8, check_label_names=False)
    assert ds[2]['data_samples'].label_name == 'c'
    with pytest.raises(ConfigError, match=r'3\.npz: label 3 is out of range .* 3 names'):
        ds[3]
    with pytest.raises(SpikeFormatError, match=r'no test files: 12 \.npz files, numbered 0-11'):
        UHSRDataset(flat, 'test')


def test_bad_files(tmp_path):
    root = make_set(tmp_path / 'd', [0, 1, 2])
    np.savez(os.path.join(root, '1.npz'), label=np.int64(1))  # no spk
    spk = np.full((T, H, W), 2, np.uint8)
    np.savez(os.path.join(root, '2.npz'), spk=spk, label=np.int64(2))  # not binary
    (tmp_path / 'd' / 'note.npz').write_bytes(b'')
    with pytest.raises(SpikeFormatError, match="note.npz.*numbered"):
        UHSRDataset(root, classes='ucifar')
    os.remove(os.path.join(root, 'note.npz'))
    ds = UHSRDataset(root, classes='ucifar')
    with pytest.raises(SpikeFormatError, match=r'1\.npz: no "spk" array'):
        ds[1]
    with pytest.raises(SpikeFormatError, match=r'2\.npz.*binary'):
        ds[2]


def test_validation_split_is_held_out_from_the_training_files(tmp_path):
    root = make_set(tmp_path / 'U-CIFAR', list(range(30)))
    def stems(split, **kw):
        ds = UHSRDataset(root, split, classes='ucifar', train_size=25, **kw)
        return [int(os.path.basename(f)[:-4]) for f in ds.files]
    train, val, test = stems('train'), stems('val'), stems('test')
    assert val == [9, 19]  # every 10th training file, in numeric order
    assert test == list(range(25, 30))
    assert sorted(train + val) == stems('trainval') == list(range(25))
    assert not set(train) & set(val) and not set(val) & set(test)
    assert stems('val', val_every=5) == [4, 9, 14, 19, 24]
    with pytest.raises(ConfigError, match='val_every'):
        UHSRDataset(root, 'val', classes='ucifar', val_every=1)
    # The layout with split sub-folders holds the validation files out of train/ alike.
    make_set(tmp_path / 'split' / 'train', list(range(20)))
    make_set(tmp_path / 'split' / 'test', [100, 101])
    assert len(UHSRDataset(str(tmp_path / 'split'), 'val', classes='ucifar')) == 2
    assert len(UHSRDataset(str(tmp_path / 'split'), 'train', classes='ucifar')) == 18


def test_label_names_are_checked_against_the_class_list(flat, tmp_path):
    # U-CIFAR files read with the U-CALTECH list: label 3 is 'truck' in the file, 'ant' here.
    ds = UHSRDataset(flat, classes='ucaltech', train_size=8)
    with pytest.raises(ConfigError, match=r"3\.npz: label 3 is 'truck' in the file but 'ant' in "
                                          r"the class list 'ucaltech'"):
        ds[3]
    assert UHSRDataset(flat, classes='ucaltech', check_label_names=False)[3]
    # Spelling variants of the same class pass.
    root = make_set(tmp_path / 'variants', [0, 1, 2], labels=[1, 15, 36],
                    label_name='placeholder')
    for stem, name in (('0', 'airplanes'), ('1', 'car_side'), ('2', 'Faces_easy')):
        spk = np.zeros((T, H, W), np.uint8)
        write_npz(os.path.join(root, f'{stem}.npz'), spk, [1, 15, 36][int(stem)], name)
    ds = UHSRDataset(root, classes='ucaltech')
    assert [ds[i]['data_samples'].label_name for i in range(3)] == ['airplanes', 'car', 'faces']
