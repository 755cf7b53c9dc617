"""Property-based tests of the spike readers: round trips of any size, and random or damaged
files either decode or raise the toolkit's own error."""
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spikeclip.fileio import (
    frame_bytes,
    read_dat,
    read_npz,
    read_spikes,
    write_dat,
    write_npz,
)
from spikeclip.utils.errors import SpikeCLIPError, SpikeFormatError

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = st.tuples(st.integers(1, 6), st.integers(1, 23), st.integers(1, 23))  # T, H, W
spike_arrays = shapes.flatmap(lambda s: hnp.arrays(np.uint8, s, elements=st.integers(0, 1)))


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp('fuzz')


def _is_spikes(arr, shape=None):
    return (arr.dtype == np.uint8 and arr.ndim == 3 and set(np.unique(arr)) <= {0, 1}
            and (shape is None or arr.shape == shape))


@FUZZ
@given(spikes=spike_arrays, flip=st.booleans())
def test_dat_round_trip_any_size(scratch, spikes, flip):
    t, h, w = spikes.shape
    path = str(scratch / 'rt.dat')
    write_dat(path, spikes, flip=flip)
    with open(path, 'rb') as f:
        raw = f.read()
    assert len(raw) == t * frame_bytes(h, w)  # H*W not a multiple of 8: the last byte is padded
    assert np.array_equal(read_dat(path, h, w, flip=flip), spikes)
    assert np.array_equal(read_spikes(path, h, w).spikes, spikes if flip else spikes[:, ::-1])
    start = t // 2
    assert np.array_equal(read_dat(path, h, w, start, t - start, flip=flip), spikes[start:])


@FUZZ
@given(spikes=spike_arrays, label=st.integers(-2**63, 2**63 - 1),
       name=st.text(max_size=12))
def test_npz_round_trip_any_size(scratch, spikes, label, name):
    path = str(scratch / 'rt.npz')
    if '\x00' in name:  # NumPy strings drop trailing NULs: refused rather than changed
        with pytest.raises(SpikeFormatError, match='contains a NUL character'):
            write_npz(path, spikes, label, name)
        return
    write_npz(path, spikes, label, name)
    record = read_npz(path)
    assert np.array_equal(record.spikes, spikes) and record.spikes.dtype == np.uint8
    assert record.label == label and record.label_name == name
    assert np.array_equal(read_spikes(path).spikes, spikes)


@FUZZ
@given(data=st.binary(max_size=600), height=st.integers(-2, 40), width=st.integers(-2, 40),
       start=st.integers(-2, 5), count=st.one_of(st.none(), st.integers(-1, 5)))
def test_random_bytes_as_dat_decode_or_raise_our_error(scratch, data, height, width, start,
                                                       count):
    path = scratch / 'junk.dat'
    path.write_bytes(data)
    try:
        spikes = read_dat(str(path), height, width, start, count)
    except SpikeCLIPError as e:
        assert 'junk.dat' in str(e)
        return
    assert _is_spikes(spikes) and spikes.shape[1:] == (height, width)
    assert len(data) == (start + len(spikes)) * frame_bytes(height, width) or count is not None


def _valid_npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, spk=np.eye(6, dtype=np.uint8)[None].repeat(3, 0), label=np.int64(2),
                        label_name=np.str_('cat'))
    return buf.getvalue()


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=400),
    # Real archives damaged: truncated, or with bytes overwritten.
    st.integers(0, len(_valid_npz())).map(lambda n: _valid_npz()[:n]),
    st.tuples(st.integers(0, len(_valid_npz()) - 1), st.binary(min_size=1, max_size=8)).map(
        lambda p: _valid_npz()[:p[0]] + p[1] + _valid_npz()[p[0] + len(p[1]):])))
# A central directory claiming zip version 6.4: zipfile raises NotImplementedError.
@example(data=_valid_npz()[:518] + b'\x00@' + _valid_npz()[520:])
def test_random_or_damaged_npz_decode_or_raise_our_error(scratch, data):
    path = scratch / 'junk.npz'
    path.write_bytes(data)
    for read in (lambda: read_npz(str(path)), lambda: read_spikes(str(path))):
        try:
            record = read()
        except SpikeCLIPError as e:
            assert 'junk.npz' in str(e)
            continue
        assert _is_spikes(record.spikes)


# Arrays of any dtype and shape under the keys a reader looks for.
any_arrays = hnp.arrays(
    st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
              hnp.boolean_dtypes(), hnp.complex_number_dtypes(),
              hnp.unicode_string_dtypes(max_len=3), hnp.byte_string_dtypes(max_len=3)),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))


@FUZZ
@given(arrays=st.dictionaries(st.sampled_from(['spk', 'label', 'label_name', 'other']),
                              any_arrays, max_size=4),
       require_label=st.booleans())
def test_npz_of_arbitrary_arrays_decode_or_raise_our_error(scratch, arrays, require_label):
    path = scratch / 'arrays.npz'
    with zipfile.ZipFile(path, 'w') as zf:  # np.savez, with any key names
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            zf.writestr(f'{key}.npy', buf.getvalue())
    try:
        record = read_npz(str(path), require_label=require_label)
    except SpikeCLIPError as e:
        assert 'arrays.npz' in str(e)
        return
    assert 'spk' in arrays and _is_spikes(record.spikes, arrays['spk'].shape)
    assert np.array_equal(record.spikes, arrays['spk'].astype(np.uint8))
    assert record.label is None or isinstance(record.label, int)
    assert record.label_name is None or isinstance(record.label_name, str)


@FUZZ
@given(data=st.binary(max_size=64), ext=st.sampled_from(['.txt', '.npy', '', '.DAT']))
def test_read_spikes_by_extension(scratch, data, ext):
    path = scratch / f'file{ext}'
    path.write_bytes(data)
    try:
        record = read_spikes(str(path), 4, 4)  # .DAT is a .dat file: 2 bytes per frame
    except SpikeCLIPError as e:
        assert f'file{ext}' in str(e)
        assert ext == '.DAT' or 'unknown spike file type' in str(e)
        return
    assert ext == '.DAT' and _is_spikes(record.spikes, (len(data) // 2, 4, 4))
