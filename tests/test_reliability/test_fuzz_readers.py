"""Property-based tests of the spike readers: round trips of any size, and random or damaged
files either decode or raise the toolkit's own error."""
import io
import math
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spikeclip.fileio import (
    SpikeReader,
    frame_bytes,
    npz_num_frames,
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


def npz_with_header(path, shape, payload: bytes, fortran=False, descr='|u1', lie=False,
                    method=zipfile.ZIP_DEFLATED):
    """A ``.npz`` whose ``spk.npy`` has the header of ``shape`` over ``payload`` bytes; with
    ``lie``, the zip's size fields claim the declared size (what a hand-made file can do)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, dict(descr=descr, fortran_order=fortran,
                                                      shape=tuple(shape)))
    member = header.getvalue() + payload
    with zipfile.ZipFile(path, 'w', method) as zf:
        zf.writestr('spk.npy', member)
    if lie:
        declared = len(header.getvalue()) + math.prod(shape) * np.dtype(descr).itemsize
        data = bytearray(open(path, 'rb').read())
        central = struct.unpack('<I', data[-6:-2])[0]  # end record: central directory offset
        for field in (22, central + 24):  # uncompressed size: local header, central directory
            data[field:field + 4] = struct.pack('<I', declared)
        with open(path, 'wb') as f:
            f.write(data)
    return str(path)


def peak_traced(fn):
    """``(result or the SpikeCLIPError raised, peak bytes traced by tracemalloc)``; NumPy
    arrays, bytes and bytearrays are all traced."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except SpikeCLIPError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


sides = st.one_of(st.integers(0, 6), st.integers(0, 2**40))


@FUZZ
@given(data=st.data(), shape=st.lists(sides, max_size=4) | st.tuples(sides, sides, sides),
       fortran=st.booleans(), descr=st.sampled_from(['|u1', '<f8', '|b1', '>i2']),
       lie=st.booleans(), method=st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
def test_npz_headers_cost_what_the_file_holds(scratch, data, shape, fortran, descr, lie,
                                              method):
    # Any header: a small file never costs more memory than its data, whatever it declares.
    declared = math.prod(shape) * np.dtype(descr).itemsize
    lie = lie and declared < 2**28  # the zip32 size fields; a lie above that is refused anyway
    size = declared if declared <= 4096 and not lie else data.draw(st.integers(0, 4096))
    payload = np.random.default_rng(size).integers(0, 2, size, dtype=np.uint8).tobytes()
    path = npz_with_header(scratch / 'header.npz', shape, payload, fortran, descr, lie, method)

    def read():
        frames = npz_num_frames(path)
        with SpikeReader(path) as reader:
            reader.read(0, min(frames, 3))
        return read_npz(path, require_label=False, start=frames // 2,
                        num_frames=min(frames - frames // 2, 3))

    result, peak = peak_traced(read)
    if isinstance(result, SpikeCLIPError):
        assert 'header.npz' in str(result)
    else:
        assert _is_spikes(result.spikes) and not lie
    assert peak < 32 * 2**20, peak


def test_a_header_that_claims_more_than_compression_gives_is_refused(scratch):
    path = npz_with_header(scratch / 'claims.npz', (50, 4096, 4096), b'\0' * 64, lie=True)
    assert os.path.getsize(path) < 400
    result, peak = peak_traced(lambda: read_npz(path, require_label=False, num_frames=41))
    assert isinstance(result, SpikeFormatError)
    assert f'{path}: "spk" declares 838860928 bytes (shape (50, 4096, 4096)) from ' in str(result)
    assert 'more than compression can give (1100:1 at most); the file is corrupt' in str(result)
    assert peak < 2**20
    path = npz_with_header(scratch / 'stored.npz', (50, 64, 64), b'\0' * 64, lie=True,
                           method=zipfile.ZIP_STORED)
    with pytest.raises(SpikeFormatError, match='more than storing can give'):
        npz_num_frames(path)


@pytest.mark.parametrize('shape', [(50, 8192, 8192), (4, 30000, 30000)])
def test_npz_frames_are_bounded_like_dat_frames(scratch, shape):
    path = npz_with_header(scratch / 'wide.npz', shape, bytes(5000))
    for read in (lambda: npz_num_frames(path), lambda: SpikeReader(path),
                 lambda: read_npz(path, require_label=False)):
        with pytest.raises(SpikeFormatError) as e:
            read()
        assert str(e.value) == (f'{path}: "spk" declares frames of {shape[1]}x{shape[2]}, out '
                                'of range: both sides must be at most 4096')


def test_a_member_shorter_than_its_header_is_never_preallocated(scratch):
    # 1 MB of spikes (about 150 kB compressed) under a header of 100 MB, within the ratio limit
    spikes = np.random.default_rng(0).integers(0, 2, 2**20, dtype=np.uint8).tobytes()
    path = npz_with_header(scratch / 'short.npz', (1000, 250, 400), spikes, lie=True)
    result, peak = peak_traced(lambda: read_npz(path, require_label=False, num_frames=1000))
    assert isinstance(result, SpikeFormatError) and 'short.npz' in str(result)
    assert peak < 16 * 2**20, peak  # the 100 MB declared were never allocated
