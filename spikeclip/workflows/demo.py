"""``make demo``: the whole SpikeCLIP pipeline on the embedded default data, offline."""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, Optional, Sequence

from ..utils.atomic import atomic_write_json
from ..utils.resources import config_path, tool_path
from .train_all import train_all

TINY_CLIP_NOTICE = (
    'NOTE: the demo\'s CLIP is the tiny CLIP "spikeclip-tiny" (4.6 M parameters), trained here on '
    'the twelve\n      embedded photographs (their training regions), not CLIP ViT-B/32: it knows '
    'only these twelve\n      classes and what clean and degraded views of them look like. Its '
    'figures show that every stage\n      does what it should; they are not SpikeCLIP\'s accuracy '
    'on real data (README, "The demo\'s tiny CLIP").')


def _run(cmd: Sequence[str], what: str) -> None:
    print(f'==> {what}: {" ".join(cmd)}', flush=True)
    result = subprocess.run(list(cmd))
    if result.returncode:
        raise RuntimeError(f'{what} failed (exit code {result.returncode})')


def run_demo(work_root: str = 'work_dirs', stage_options: Optional[Dict[str, list]] = None,
             test_options: Sequence[str] = (), tiny_clip: Optional[dict] = None,
             force: bool = False) -> dict:
    """Train the tiny CLIP (or reuse it), stages 1-3 on the embedded data, combine, test with
    visualisations, infer on one simulated ``.dat`` recording, and score what CLIP makes of
    every stage (:func:`~spikeclip.benchmarks.clip_report.clip_report`). Returns the paths and
    figures it printed.

    Running it again reuses the tiny CLIP (while its recipe is unchanged), resumes every stage
    from its work dir (finished stages are not trained again) and redoes the combination, test
    and inference; ``force`` retrains the tiny CLIP and all stages, moving the earlier
    checkpoints to ``previous_<time>`` folders. A tiny CLIP that had to be (re)trained
    retrains the stages too, since they were trained around the earlier one.

    Args:
        work_root (str): Everything goes to ``<work_root>/demo``. Defaults to ``'work_dirs'``.
        stage_options (dict, optional): Extra ``key=value`` overrides per stage (tests shrink the
            run with these).
        test_options (Sequence[str]): Overrides for the test run.
        tiny_clip (dict, optional): Keyword arguments of
            :func:`~spikeclip.workflows.tiny_clip.ensure_tiny_clip` (e.g. a shorter ``recipe``).
        force (bool): Retrain the tiny CLIP and every stage. Defaults to False.
    """
    start = time.time()
    root = osp.join(work_root, 'demo')
    os.makedirs(root, exist_ok=True)
    print(TINY_CLIP_NOTICE, flush=True)
    from .tiny_clip import ensure_tiny_clip, format_evaluation
    clip_start = time.time()
    # The demo owns its folder: a tiny CLIP of another recipe there is moved aside, not refused.
    tiny_report = ensure_tiny_clip(osp.join(root, 'tiny_clip'),
                                   **dict(dict(force=force, move_other=True), **(tiny_clip or {})))
    tiny, tiny_seconds = tiny_report['weights'], time.time() - clip_start
    # Stages trained around an earlier tiny CLIP would not fit this one: train them afresh.
    force = force or not tiny_report['reused']
    options = {s: list((stage_options or {}).get(s, ())) for s in ('coarse', 'prompt', 'refine')}
    # Stage 1 scores its reconstructions with the same CLIP (and records which one it was).
    options['coarse'] += ['model.clip.type=FrozenCLIP', 'model.clip.arch=spikeclip-tiny']
    for s in ('coarse', 'prompt', 'refine'):
        options[s].append(f'model.clip.pretrained={tiny}')
    paths = train_all('demo', work_root, stage_options=options, force=force)

    py = sys.executable
    test_dir = osp.join(root, 'test')
    _run([py, tool_path('test.py'), config_path('pipeline_demo.py'),
          paths['combined'], '--work-dir', test_dir, '--show-dir', 'vis',
          *(['--cfg-options', *test_options] if test_options else [])], 'test')
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)['metrics']

    rec_dir = osp.join(root, 'recording')
    # Moving scenes: a camera panning at up to 0.3 px/frame, objects crossing the view.
    _run([py, tool_path('simulate_spikes.py'), 'default', rec_dir, '--frames', '200',
          '--height', '250', '--width', '400', '--speed', '0.3', '--seed', '7'],
         'simulate a 250x400 recording')
    dat = osp.join(rec_dir, 'spike', sorted(os.listdir(osp.join(rec_dir, 'spike')))[0])
    infer_dir = osp.join(root, 'infer')
    _run([py, tool_path('infer.py'), paths['combined'], dat, '--out-dir', infer_dir,
          '--save-coarse'], 'inference')

    vs_tfp = stage1_vs_tfp(paths['coarse'])
    from ..benchmarks.clip_report import clip_report, format_clip_report
    print('==> CLIP figures of every stage on the test split', flush=True)
    report = clip_report(paths['combined'], config_path('pipeline_demo.py'))
    atomic_write_json(osp.join(root, 'clip_report.json'), report)

    minutes = (time.time() - start) / 60
    summary = dict(paths, test_metrics=metrics, test_vis=osp.join(test_dir, 'vis'),
                   recording=dat, inference=infer_dir, minutes=round(minutes, 2),
                   stage1_vs_tfp=vs_tfp, tiny_clip=tiny,
                   tiny_clip_seconds=round(tiny_seconds, 1), clip_report=report)
    print('\n' + '=' * 78)
    print(f'SpikeCLIP demo finished in {minutes:.1f} min')
    reused = ', reused' if tiny_report['reused'] else ''
    print(f'  tiny CLIP:        {tiny} ({tiny_seconds:.0f} s{reused})\n'
          f'                    {format_evaluation(tiny_report)}')
    for stage in ('coarse', 'prompt', 'refine'):
        print(f'  stage {stage:<7} checkpoint: {paths[stage]} ({paths[stage + "_seconds"]} s)')
    print(f'  combined model:   {paths["combined"]}')
    shown = ', '.join(f'{k}={v:.4g}' for k, v in metrics.items() if isinstance(v, (int, float)))
    print(f'  test metrics:     {shown}')
    print(f'  stage 1 vs TFP:   {vs_tfp["model"]["psnr"]:.2f} dB / SSIM '
          f'{vs_tfp["model"]["ssim"]:.3f} against the best TFP ({vs_tfp["tfp"]["window"]} '
          f'frames) {vs_tfp["tfp"]["psnr"]:.2f} dB / {vs_tfp["tfp"]["ssim"]:.3f}, both after a '
          'fitted gain (demo test split; tools/benchmark_quality.py scores held-out scenes)')
    print(f'  test image grids: {summary["test_vis"]}')
    print(f'  inference:        {infer_dir} (from {dat})')
    print(f'  TensorBoard:      {osp.join(osp.dirname(sys.executable), "tensorboard")} '
          f'--logdir {root}')
    print(format_clip_report(report))
    print(TINY_CLIP_NOTICE)
    return summary


def stage1_vs_tfp(checkpoint: str) -> dict:
    """The stage-1 model against TFP at its best window on the demo's test split (moving
    scenes of the held-out image regions), both after a least-squares gain."""
    from ..apis.inference import init_model
    from ..benchmarks.quality import compare_with_baselines, config_test_set
    data = config_test_set(config_path('coarse_demo.py'))
    model = init_model(checkpoint, device='cpu')
    return compare_with_baselines(model, data, windows=(3, 5, 9, 13, 17, 21, 29, 41))
