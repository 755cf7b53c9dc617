"""Sensor presets: raw 250x416 Vidar captures read as the 250x400 image, and recognised."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikeclip.apis import infer_recordings
from spikeclip.datasets import PairedSpikeDataset
from spikeclip.fileio import SENSORS, SpikeReader, dat_num_frames, read_dat, write_dat
from spikeclip.models.stages.coarse import CoarseModel
from spikeclip.utils.errors import ConfigError, SpikeFormatError

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'infer.py'
T = 45  # 45 frames of 250x416 are not a whole number of 250x400 frames


@pytest.fixture(scope='module')
def captures(tmp_path_factory):
    """The same 250x400 spikes as a plain file and as a raw capture with a garbage head."""
    rng = np.random.default_rng(0)
    image = (rng.random((T, 250, 400)) < np.linspace(0.05, 0.5, 400)).astype(np.uint8)
    head = (rng.random((T, 250, 16)) < 0.5).astype(np.uint8)  # not image: must not leak in
    root = tmp_path_factory.mktemp('captures')
    write_dat(str(root / 'plain.dat'), image)
    write_dat(str(root / 'raw.dat'), np.concatenate([image, head], axis=2))
    return root, image


def test_presets_are_the_cited_layouts():
    assert {n: (s.height, s.width, s.image_width) for n, s in SENSORS.items()} == {
        'vidar-250x400': (250, 400, 400), 'vidar-250x416': (250, 416, 400)}


def test_the_raw_capture_reads_as_the_plain_file(captures):
    root, image = captures
    raw, plain = str(root / 'raw.dat'), str(root / 'plain.dat')
    assert dat_num_frames(raw, sensor='vidar-250x416') == T
    np.testing.assert_array_equal(read_dat(raw, sensor='vidar-250x416'), image)
    np.testing.assert_array_equal(read_dat(raw, start=3, num_frames=5, sensor='vidar-250x416'),
                                  read_dat(plain, start=3, num_frames=5))
    with SpikeReader(raw, sensor='vidar-250x416') as reader:
        assert reader.shape == (T, 250, 400)
        np.testing.assert_array_equal(reader.read(10, 4), image[10:14])
    with pytest.raises(ConfigError, match="unknown sensor preset; known: vidar-250x400"):
        read_dat(raw, sensor='vidar-9x9')


def test_a_raw_size_file_read_as_250x400_suggests_the_preset(captures):
    root, _ = captures
    with pytest.raises(SpikeFormatError, match=r'raw\.dat: 585000 bytes is not a whole number of '
                       r'250x400 frames .*looks like a raw 250x416 capture \(45 frames\): use '
                       r'--sensor vidar-250x416'):
        dat_num_frames(str(root / 'raw.dat'))


def test_a_paired_set_of_raw_captures_reads_as_the_plain_one(captures, tmp_path):
    root, image = captures
    for name, source in (('plain', 'plain.dat'), ('raw', 'raw.dat')):
        (tmp_path / name / 'spike').mkdir(parents=True)
        (tmp_path / name / 'gt').mkdir()
        (tmp_path / name / 'spike' / 'a.dat').write_bytes((root / source).read_bytes())
        Image.fromarray(np.zeros((250, 400), np.uint8)).save(tmp_path / name / 'gt' / 'a.png')
    plain = PairedSpikeDataset(str(tmp_path / 'plain'), window=41)[0]['inputs']
    raw = PairedSpikeDataset(str(tmp_path / 'raw'), window=41, sensor='vidar-250x416')[0]
    np.testing.assert_array_equal(raw['inputs'], plain)


def test_infer_tool_reconstructs_the_raw_capture_as_the_plain_file(captures, tmp_path):
    root, _ = captures
    spec = importlib.util.spec_from_file_location('infer_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    common = ['pretrained:real', '--device', 'cpu', '--amp', 'none', '--exposure', 'linear']
    tool.main([common[0], str(root / 'plain.dat'), '--out-dir', str(tmp_path / 'p')] + common[1:])
    tool.main([common[0], str(root / 'raw.dat'), '--out-dir', str(tmp_path / 'r'),
               '--sensor', 'vidar-250x416'] + common[1:])
    plain = np.asarray(Image.open(tmp_path / 'p' / 'plain.png'))
    raw = np.asarray(Image.open(tmp_path / 'r' / 'raw.png'))
    assert raw.shape == (250, 400) and plain.std() > 0
    np.testing.assert_array_equal(raw, plain)
    with open(tmp_path / 'r' / 'predictions.json') as f:
        assert json.load(f)[0]['gain'] == 1.0
    with pytest.raises(ConfigError, match='--sensor vidar-250x416 sets the frame size; leave '
                       'out --width'):
        tool.main([common[0], str(root / 'raw.dat'), '--out-dir', str(tmp_path / 'x'),
                   '--sensor', 'vidar-250x416', '--width', '416'] + common[1:])


def test_a_video_of_the_raw_capture_is_the_video_of_the_plain_file(captures, tmp_path):
    root, _ = captures
    model = CoarseModel(encoder=dict(type='TFP', window=9),
                        data_preprocessor=dict(type='SpikeDataPreprocessor', window=9)).eval()
    plain = infer_recordings(model, [str(root / 'plain.dat')], str(tmp_path / 'p'), '10:30:5',
                             save_float=True)[0]
    raw = infer_recordings(model, [str(root / 'raw.dat')], str(tmp_path / 'r'), '10:30:5',
                           save_float=True, sensor='vidar-250x416')[0]
    assert raw['gain'] == plain['gain']
    for c in range(10, 30, 5):
        for ext in ('png', 'npy'):
            a, b = (tmp_path / 'p' / 'plain' / f'{c:06d}.{ext}', tmp_path / 'r' / 'raw' /
                    f'{c:06d}.{ext}')
            assert a.read_bytes() == b.read_bytes()
