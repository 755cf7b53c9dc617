"""tools/check_clip.py with the tiny CLIP and a tiny U-CALTECH-like set, and offline."""
import json
import os
import subprocess
import sys

from spikeclip.benchmarks.clip import check_clip, format_report
from spikeclip.testing import REPO_ROOT, write_tiny_uhsr

TOOL = os.path.join(REPO_ROOT, 'tools', 'check_clip.py')
CONFIG = os.path.join(REPO_ROOT, 'configs', 'coarse_ucaltech.py')


def _options(tiny_clip_file, root):
    return {'model.clip.arch': 'spikeclip-tiny', 'model.clip.pretrained': tiny_clip_file,
            'test_dataloader.dataset.data_root': root, 'test_dataloader.dataset.crop_size': None,
            'test_dataloader.dataset.train_size': 2}


def test_reports_clip_and_zero_shot_accuracy(tmp_path, tiny_clip_file, trained_stages):
    root = write_tiny_uhsr(str(tmp_path / 'data'), num_files=8, num_classes=3, size=24)
    report = check_clip(CONFIG, _options(tiny_clip_file, root), trained_stages['coarse'], num=4,
                        device='cpu', batch_size=3)
    clip = report['clip']
    assert clip['arch'] == 'spikeclip-tiny' and clip['activation'] == 'GELU'
    assert clip['weights_file'] == tiny_clip_file and len(clip['weights']) == 16
    assert clip['preprocess']['resize_mode'] == 'shortest'
    assert report['data']['files'] == 4 and report['data']['of'] == 6
    assert report['data']['prompt_names'] == 'ucaltech'
    for key in ('zero_shot_tfp_top1', 'zero_shot_checkpoint_top1'):
        assert 0 <= report[key] <= 100
    assert 'checkpoint_top1' in report['skipped']  # the demo checkpoint has 12 other classes
    text = format_report(report)
    assert 'GELU' in text and 'zero-shot top-1 on TFP images' in text


def test_tool_prints_and_writes_json(tmp_path, tiny_clip_file):
    root = write_tiny_uhsr(str(tmp_path / 'data'), num_files=6, num_classes=3, size=24)
    opts = [f'{k}={v}' for k, v in _options(tiny_clip_file, root).items()]
    out = tmp_path / 'report.json'
    result = subprocess.run([sys.executable, TOOL, CONFIG, '--num', '2', '--device', 'cpu',
                             '--out', str(out), '--cfg-options', *opts],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'CLIP:          spikeclip-tiny, GELU activation' in result.stdout
    assert json.loads(out.read_text())['data']['files'] == 2
    # No data: the CLIP part still reports, the accuracy part says why it is missing.
    result = subprocess.run([sys.executable, TOOL, CONFIG, '--data-root', str(tmp_path / 'no'),
                             '--cfg-options', *opts[:2]], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'skipped accuracy: no test data' in result.stdout


def test_offline_says_which_file_to_fetch_and_where(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    result = subprocess.run([sys.executable, TOOL, CONFIG, '--cfg-options',
                             f'model.clip.cache_dir={tmp_path}'],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    err = result.stderr
    assert err.startswith('error: ')
    assert 'https://openaipublic.azureedge.net/clip/models/' in err and '/ViT-B-32.pt' in err
    assert f'put it at: {tmp_path}/ViT-B-32.pt' in err
    assert 'models--timm--vit_base_patch32_clip_224.openai' in err
