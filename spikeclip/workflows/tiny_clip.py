"""The demo's CLIP: train the tiny CLIP once, reuse it while its recipe stays the same.

``ensure_tiny_clip(DIR)`` is what ``make demo`` and ``tools/train_tiny_clip.py`` call. ``DIR``
holds open_clip's local-dir format (``open_clip_pytorch_model.bin``, ``open_clip_config.json``)
and ``training.json`` (the recipe, its hash, time, steps per second and the evaluation). The
weights are retrained when they are missing or when the recipe's hash differs (the recipe, the
architecture, the classes or the training code's version changed).
"""
import json
import os.path as osp
from typing import Callable, Optional, Sequence

from ..engine.runner import move_aside
from ..models.clip.pretrain import (
    CONFIG_NAME,
    REPORT_NAME,
    WEIGHTS_NAME,
    TinyCLIPRecipe,
    evaluate_views,
    recipe_hash,
    train_tiny_clip,
)
from ..utils.errors import ConfigError


def _class_names(images: Optional[Sequence]) -> list:
    if images is not None:
        return [name for name, _ in images]
    from ..datasets.default_images import load_default_images
    return [name for name, _ in load_default_images()]


def cached_tiny_clip(out_dir: str, recipe: TinyCLIPRecipe = TinyCLIPRecipe(),
                     images: Optional[Sequence] = None):
    """``(report, None)`` when ``out_dir`` holds weights of ``recipe``, else ``(None, why)``."""
    weights, report_file = osp.join(out_dir, WEIGHTS_NAME), osp.join(out_dir, REPORT_NAME)
    if not (osp.isfile(weights) and osp.isfile(report_file)):
        return None, f'no trained tiny CLIP in {out_dir}'
    try:
        with open(report_file) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        return None, f'{report_file} is unreadable ({e})'
    want = recipe_hash(recipe, _class_names(images))
    if report.get('recipe_hash') != want:
        return None, (f'the tiny CLIP in {out_dir} was trained with another recipe '
                      f'({report.get("recipe_hash")}, now {want})')
    return report, None


def _recipe_changes(out_dir: str, recipe: TinyCLIPRecipe) -> str:
    """``'steps 600 there, 2 here'``: the recipe fields that differ from ``out_dir``'s report,
    or ``''`` where it cannot tell."""
    try:
        with open(osp.join(out_dir, REPORT_NAME)) as f:
            there = json.load(f).get('recipe')
    except (OSError, ValueError, AttributeError):
        return ''
    if not isinstance(there, dict):
        return ''
    here = json.loads(json.dumps(recipe.to_dict(), default=str))
    return '; '.join(f'{k} {there.get(k)!r} there, {v!r} here' for k, v in here.items()
                     if there.get(k) != v)


def ensure_tiny_clip(out_dir: str, recipe: TinyCLIPRecipe = TinyCLIPRecipe(),
                     force: bool = False, images: Optional[Sequence] = None,
                     evaluate: bool = True, log: Callable[[str], None] = print,
                     move_other: bool = False) -> dict:
    """Train the tiny CLIP into ``out_dir`` unless it already holds one of ``recipe``.

    Args:
        out_dir (str): Folder of the weights (open_clip's local-dir format).
        recipe (TinyCLIPRecipe): Training settings. Defaults to ``TinyCLIPRecipe()``.
        force (bool): Retrain even when up to date, or where ``out_dir`` holds weights of
            another recipe; the earlier files are moved to ``out_dir/previous_<time>/``.
            Defaults to False.
        images (Sequence, optional): ``(class name, image)`` pairs; None is the embedded set.
        evaluate (bool): After training, load the weights through
            :class:`~spikeclip.models.clip.FrozenCLIP` (as the stages do) and score them on
            views of the photographs' unseen test regions (:func:`evaluate_views`). Defaults
            to True.
        log (callable): Progress lines. Defaults to ``print``.
        move_other (bool): Weights of another recipe (or without a readable report) are moved
            to ``out_dir/previous_<time>/`` and ``recipe`` is trained, instead of refused. The
            demo, which retrains its stages around a new CLIP, passes True. Defaults to False.

    Returns:
        dict: The training report (``training.json``) plus ``weights`` (the file to give
        ``FrozenCLIP(arch='spikeclip-tiny', pretrained=...)``), ``reused`` (bool) and
        ``previous`` (where the replaced files went, or None).

    Raises:
        ConfigError: ``out_dir`` is a file, or holds weights of another recipe and neither
            ``force`` nor ``move_other`` is set.
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ConfigError(f'{out_dir} exists and is not a folder; the tiny CLIP needs a folder')
    weights = osp.join(out_dir, WEIGHTS_NAME)
    report, why = (None, 'retraining (force)') if force else cached_tiny_clip(out_dir, recipe,
                                                                             images)
    if report is not None:
        log(f'tiny CLIP: reusing {weights} (recipe {report["recipe_hash"]}, trained in '
            f'{report.get("train_seconds")} s)')
        return dict(report, weights=weights, reused=True, previous=None)
    earlier = [n for n in (WEIGHTS_NAME, CONFIG_NAME, REPORT_NAME)
               if osp.isfile(osp.join(out_dir, n))]
    previous = None
    if WEIGHTS_NAME in earlier:
        if not (force or move_other):
            changes = _recipe_changes(out_dir, recipe)
            what = f'{out_dir} holds a tiny CLIP of another recipe ({changes})' if changes \
                else why
            raise ConfigError(
                f'{what}; training this one would replace {WEIGHTS_NAME}, which the stages '
                'trained with it need. Train it elsewhere with --out-dir DIR, or pass --force '
                'to retrain here (the old weights are moved to a previous_<time> folder)')
    if earlier:
        previous = move_aside(out_dir, earlier)
        log(f'tiny CLIP: moved the earlier {", ".join(earlier)} to {previous}')
    log(f'tiny CLIP: {why}; training it')
    report = train_tiny_clip(out_dir, recipe, images, log=log)
    if evaluate:
        from ..models.clip import FrozenCLIP
        from ..models.clip.pretrain import save_report
        clip = FrozenCLIP(arch=recipe.arch, pretrained=weights)
        report['evaluation'] = dict(evaluate_views(clip, images=images, views=recipe.views,
                                                   degradation=recipe.degradation),
                                    what='zero-shot on views of the unseen test regions')
        save_report(out_dir, report)
    return dict(report, weights=weights, reused=False, previous=previous)


def format_evaluation(report: dict) -> str:
    """One line with the figures of ``report['evaluation']``."""
    e = report.get('evaluation')
    if not e:
        return 'not evaluated'
    return (f'unseen test regions: zero-shot top-1 {e["top1_clean"]:.1f}% clean, '
            f'{e["top1_degraded"]:.1f}% degraded; "high quality" vs "low quality" right on '
            f'{e["hq_lq_acc"]:.1f}%')
