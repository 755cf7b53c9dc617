"""A checkpoint's stored model config builds only the toolkit's registered parts.

The file below holds only dicts, strings and tensors, so ``weights_only=True`` loads it; what
would run the command is MMEngine's ``Registry.build`` importing the dotted ``type``. Every tool
that builds a model from a checkpoint must refuse it, naming the file and the field, before
anything is built.
"""
import http.server
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from functools import partial

import pytest
import torch

from spikeclip.apis.combine import combine_checkpoints
from spikeclip.fileio import write_npz
from spikeclip.testing import REPO_ROOT
from spikeclip.utils.checkpoint import load_checkpoint_file
from spikeclip.utils.errors import CheckpointError


def payload(marker) -> dict:
    """Built by MMEngine, this runs ``touch <marker>``."""
    return dict(type='subprocess.Popen', args=['touch', str(marker)])


def tampered(src: str, dst, edit) -> str:
    """A copy of checkpoint ``src`` whose stored model config ``edit(model_cfg)`` changed."""
    ckpt = load_checkpoint_file(src)
    edit(ckpt['meta']['spikeclip']['model'])
    torch.save(ckpt, dst)
    return str(dst)


def run(tool, *args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', f'{tool}.py'),
                           *map(str, args)], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_refused(code, err, path, field, marker):
    time.sleep(0.2)  # a Popen that did start would have touched the marker by now
    assert not marker.exists(), 'the stored config ran a command'
    assert code == 1, err[-2000:]
    assert 'Traceback' not in err, err[-2000:]
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f'error: {path}: {field}'), err[-2000:]
    assert 'refusing to build anything from this file' in lines[-1]


@pytest.fixture(scope='module')
def combined(trained_stages, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('combined') / 'combined_model.pth')
    combine_checkpoints(trained_stages['coarse'], trained_stages['prompt'],
                        trained_stages['refine'], out)
    return out


@pytest.fixture(scope='module')
def spikes(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp('spk') / 'a.npz')
    write_npz(path, torch.zeros(200, 24, 24, dtype=torch.uint8).numpy(), 0, 'x')
    return path


def _set(key, value):
    def edit(cfg):
        cfg[key] = value
    return edit


# Where the payload sits -> (checkpoint, edit of the stored config, field the error names).
CASES = {
    'top level': ('coarse', lambda m, cfg: cfg.update(payload(m)), 'meta.spikeclip.model.type='),
    'refiner': ('combined', lambda m, cfg: cfg.update(refiner=payload(m)),
                'meta.spikeclip.model.refiner.type='),
    'encoder': ('coarse', lambda m, cfg: cfg.update(encoder=payload(m)),
                'meta.spikeclip.model.encoder.type='),
    'frozen encoder': ('combined', lambda m, cfg: cfg['parts'].update(encoder=payload(m)),
                       'meta.spikeclip.model.parts.encoder.type='),
    'loss': ('coarse', lambda m, cfg: cfg['losses'].__setitem__(0, payload(m)),
             'meta.spikeclip.model.losses.0.type='),
    'clip': ('combined', lambda m, cfg: cfg.update(clip=payload(m)),
             'meta.spikeclip.model.clip.type='),
    'nested in an encoder': ('coarse', lambda m, cfg: cfg['encoder'].update(act=payload(m)),
                             'meta.spikeclip.model.encoder.act.type is not a field that builds'),
    'scoped name': ('coarse', lambda m, cfg: cfg['encoder'].update(type='mmdet.LRN'),
                    "meta.spikeclip.model.encoder.type='mmdet.LRN' is not a plain registered"),
    'non-string type': ('coarse', lambda m, cfg: cfg['encoder'].update(type=3),
                        'meta.spikeclip.model.encoder.type is a int, not the name'),
    '_scope_': ('combined', lambda m, cfg: cfg['data_preprocessor'].update(_scope_='os'),
                'meta.spikeclip.model.data_preprocessor._scope_ is set'),
    'unimported module name': ('coarse', lambda m, cfg: cfg['encoder'].update(type='antigravity'),
                               "meta.spikeclip.model.encoder.type='antigravity' is not a "
                               'registered encoder (registered: AdaptiveWindow, LRN, MotionUNet, '
                               'SpikingUNet, TFI, TFP'),
    'wrapped encoder': ('coarse', lambda m, cfg: cfg.update(
        encoder=dict(type='AdaptiveWindow', short=payload(m))),
        'meta.spikeclip.model.encoder.short.type='),
    'nested in a wrapped encoder': ('coarse', lambda m, cfg: cfg.update(
        encoder=dict(type='AdaptiveWindow', short=dict(type='TFP', act=payload(m)))),
        'meta.spikeclip.model.encoder.short.act.type is not a field that builds'),
    'zero-shot encoder': ('prompt', lambda m, cfg: cfg.update(zeroshot_encoder=payload(m)),
                          'meta.spikeclip.model.zeroshot_encoder.type='),
}


@pytest.mark.parametrize('case', list(CASES))
def test_infer_refuses_a_payload_anywhere_in_the_stored_config(case, trained_stages, combined,
                                                               spikes, tmp_path, run_tool_here):
    source, edit, field = CASES[case]
    marker = tmp_path / 'pwned'
    src = combined if source == 'combined' else trained_stages[source]
    path = tampered(src, tmp_path / 'evil.pth', partial(edit, marker))
    code, _, err = run_tool_here('infer', path, spikes, '--out-dir', tmp_path / 'out',
                                 '--device', 'cpu')
    assert_refused(code, err, path, field, marker)
    assert not (tmp_path / 'out').exists()


def test_every_tool_that_builds_from_a_checkpoint_refuses_it(trained_stages, combined, tmp_path,
                                                           tool_env):
    marker = tmp_path / 'pwned'
    evil_combined = tampered(combined, tmp_path / 'evil_combined.pth',
                             lambda cfg: cfg.update(refiner=payload(marker)))
    evil_coarse = tampered(trained_stages['coarse'], tmp_path / 'evil_coarse.pth',
                           lambda cfg: cfg['losses'].__setitem__(0, payload(marker)))
    evil_refine = tampered(trained_stages['refine'], tmp_path / 'evil_refine.pth',
                           lambda cfg: cfg.update(clip=payload(marker)))
    calls = {
        'test': (['configs/pipeline_demo.py', evil_combined, '--work-dir', tmp_path / 'w'],
                 evil_combined, 'meta.spikeclip.model.refiner.type='),
        'benchmark': ([evil_combined, '--iters', 1, '--warmup', 0, '--height', 16, '--width',
                       16], evil_combined, 'meta.spikeclip.model.refiner.type='),
        'benchmark_quality': ([evil_coarse, '--work-dir', tmp_path / 'q'], evil_coarse,
                              'meta.spikeclip.model.losses.0.type='),
        'combine_checkpoints': (['--coarse', trained_stages['coarse'], '--prompt',
                                 trained_stages['prompt'], '--refine', evil_refine, '--out',
                                 tmp_path / 'c.pth'], evil_refine,
                                'meta.spikeclip.model.clip.type='),
        # Stage 2 builds its frozen encoder from the stage-1 checkpoint it is given.
        'train': (['configs/prompt_demo.py', '--work-dir', tmp_path / 'p', '--cfg-options',
                   f'model.coarse_checkpoint={evil_coarse}'], evil_coarse,
                  'meta.spikeclip.model.losses.0.type='),
    }
    procs = {tool: subprocess.Popen(
        [sys.executable, osp.join(REPO_ROOT, 'tools', f'{tool}.py'), *map(str, args)],
        cwd=REPO_ROOT, env=tool_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tool, (args, _, _) in calls.items()}
    for tool, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert_refused(proc.returncode, err, calls[tool][1], calls[tool][2], marker)
    assert not (tmp_path / 'c.pth').exists()


def test_offline_refuses_a_stored_clip_tag_that_would_download(trained_stages, spikes, tmp_path,
                                                                tool_env):
    path = tampered(trained_stages['refine'], tmp_path / 'tagged.pth',
                    lambda cfg: cfg.update(clip=dict(type='FrozenCLIP', arch='ViT-B-32',
                                                     pretrained='openai')))
    env = dict(tool_env, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / 'cache'),
               HF_HOME=str(tmp_path / 'hf'))  # an empty cache
    env.pop('HF_HUB_OFFLINE')
    result = run('infer', path, spikes, '--out-dir', tmp_path / 'out', '--offline', env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: {path}: meta.spikeclip.model.clip.pretrained='openai' names an open_clip tag "
        'whose weights are not in the local cache, and downloads are off')
    assert 'Traceback' not in result.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server over ``tmp_path / 'www'``: yields (folder, base URL)."""
    folder = tmp_path / 'www'
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                             partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


class _Pickled:
    """Unpickling this runs ``touch <marker>`` through os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_http_checkpoints_load_through_the_safe_loader(trained_stages, spikes, http_folder,
                                                       tmp_path, run_tool_here, monkeypatch):
    folder, url = http_folder
    marker = tmp_path / 'pwned'
    torch.save(dict(meta=dict(payload=_Pickled(marker)), state_dict={}), folder / 'evil.pth')
    (folder / 'coarse.pth').write_bytes(open(trained_stages['coarse'], 'rb').read())
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    # MMEngine's own http loader would unpickle with torch's default, which this makes unsafe.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.delenv('SPIKECLIP_OFFLINE', raising=False)  # restored after --offline below
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    # load_from: MMEngine's Runner loads it.
    code, _, err = run_tool_here('train', 'configs/coarse_demo.py', '--work-dir', tmp_path / 'w',
                                 '--cfg-options', f'load_from={url}/evil.pth',
                                 'train_cfg.max_epochs=1')
    assert code == 1, err[-2000:]
    assert 'could not be loaded safely (weights_only=True)' in err.splitlines()[-1]
    assert not marker.exists()
    # --resume URL
    code, _, err = run_tool_here('train', 'configs/coarse_demo.py', '--work-dir', tmp_path / 'w2',
                                 '--resume', f'{url}/evil.pth')
    assert code == 1 and 'could not be loaded safely' in err.splitlines()[-1]
    assert not marker.exists()
    # A genuine checkpoint by URL works, and the offline switch forbids the download.
    code, _, err = run_tool_here('infer', f'{url}/coarse.pth', spikes, '--out-dir',
                                 tmp_path / 'out', '--device', 'cpu')
    assert code == 0, err[-2000:]
    assert (tmp_path / 'out' / 'a.png').is_file()
    code, _, err = run_tool_here('infer', f'{url}/other.pth', spikes, '--out-dir',
                                 tmp_path / 'out', '--offline')
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f'error: {url}/other.pth: downloads are off (SPIKECLIP_OFFLINE=1 / --offline); download '
        'the checkpoint elsewhere and give its local path')


def test_a_refused_download_does_not_stay_in_the_hub_cache(http_folder, tmp_path, monkeypatch):
    # Issue 21: the archive of a first URL, refused as a checkpoint, stayed in torch's hub cache
    # under a name predictable from the URL, for a second checkpoint's stored config to name.
    from spikeclip.testing import save_tiny_clip_archive
    from spikeclip.utils.checkpoint import _url_cache_path
    folder, url = http_folder
    save_tiny_clip_archive(str(folder / 'ViT-B-32.pt'))
    torch.save(dict(state_dict={}), folder / 'ok.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.delenv('SPIKECLIP_OFFLINE', raising=False)
    with pytest.raises(CheckpointError, match=rf'{url}/ViT-B-32\.pt: the download could not be '
                                              r'loaded safely.*deleted, not cached'):
        load_checkpoint_file(f'{url}/ViT-B-32.pt')
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    assert not os.path.exists(_url_cache_path(f'{url}/ViT-B-32.pt'))
    assert os.listdir(cache) == []  # nor under another name
    assert load_checkpoint_file(f'{url}/ok.pth') == dict(state_dict={})
    assert os.listdir(cache) == [osp.basename(_url_cache_path(f'{url}/ok.pth'))]


def test_python_api_refuses_it_too(trained_stages, tmp_path):
    from spikeclip.apis import init_model
    marker = tmp_path / 'pwned'
    path = tampered(trained_stages['coarse'], tmp_path / 'evil.pth',
                    lambda cfg: cfg.update(payload(marker)))
    with pytest.raises(CheckpointError, match=r"meta\.spikeclip\.model\.type='subprocess\.Popen'"):
        init_model(path, device='cpu')
    assert not marker.exists()


def test_the_refusal_names_the_registered_kinds_in_good_english():
    from spikeclip.models.stages.stored_config import check_stored_model_cfg
    from spikeclip.utils.errors import CheckpointError
    cfg = dict(type='CoarseModel', encoder=dict(type='TFP'),
               losses=[dict(type='os.system')])
    with pytest.raises(CheckpointError, match=r'registered losses: ') as e:
        check_stored_model_cfg(cfg, 'x.pth')
    assert 'losss' not in str(e.value)
