"""Reconstruct (and classify) spike recordings with a stage or combined checkpoint.

``python tools/infer.py CHECKPOINT INPUT [INPUT ...] --out-dir DIR [--frame INDEX]``
writes ``DIR/<input stem>.png`` and ``DIR/predictions.json`` (rewritten as inputs finish;
``--skip-errors`` goes on past bad inputs and lists them at the end). The checkpoint carries its
model config; ``--config`` replaces it, ``--cfg-options model.<field>=...`` overrides fields of it.
"""
import argparse
import sys

from spikeclip.apis import infer_files, init_model
from spikeclip.apis.fast_inference import AMP_MODES, retain_freed_memory
from spikeclip.apis.runner import DictAction
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline
from spikeclip.utils.errors import SpikeCLIPError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='SpikeCLIP inference on .dat / .npz files')
    parser.add_argument('checkpoint', help='stage checkpoint or combined model file, or '
                        'pretrained:NAME (e.g. pretrained:real, shipped with the toolkit)')
    parser.add_argument('inputs', nargs='+', help='.dat or .npz spike recordings')
    parser.add_argument('--out-dir', required=True, help='where PNGs and predictions.json go')
    parser.add_argument('--config', help='config whose model replaces the stored one')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override fields of the model, e.g. '
                        'model.clip.pretrained=/path/tiny_clip.pth (and custom_imports)')
    parser.add_argument('--frame', type=int, help='centre frame of the window '
                        '(default: the temporal centre of each recording)')
    parser.add_argument('--height', type=int, default=250, help='.dat frame height')
    parser.add_argument('--width', type=int, default=400, help='.dat frame width')
    parser.add_argument('--save-coarse', action='store_true', help='also save the stage-1 image')
    parser.add_argument('--skip-errors', action='store_true',
                        help='go on past unreadable inputs; list them at the end (exit code 1)')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    parser.add_argument('--device', help='cpu or cuda (default: cuda where available)')
    parser.add_argument('--amp', choices=AMP_MODES, default='auto',
                        help='autocast precision (auto: bf16 where the hardware has it)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help='channels_last weights (default: auto, on with bf16/fp16)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_offline(args.offline)
    retain_freed_memory()  # keep freed activations: no page faults on every forward pass
    model = init_model(args.checkpoint, args.config, args.device, args.cfg_options)
    try:
        results = infer_files(model, args.inputs, args.out_dir, args.frame, args.height,
                              args.width, args.save_coarse, amp=args.amp,
                              channels_last='auto' if args.channels_last is None else
                              args.channels_last, skip_errors=args.skip_errors)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f'interrupted; the finished inputs are listed in '
                                f'{args.out_dir}/predictions.json') from None
    failed = [r for r in results if 'error' in r]
    for r in results:
        if 'error' not in r:
            top = f" -> {r['topk'][0]['name']} ({r['topk'][0]['score']:.2f})" if 'topk' in r else ''
            print(f"{r['input']}: {r['image']}{top}")
    print(f'predictions: {args.out_dir}/predictions.json')
    if failed:
        for r in failed:
            print(f"skipped {r['error']}", file=sys.stderr)
        raise SpikeCLIPError(f'{len(failed)} of {len(results)} inputs could not be processed '
                             '(listed above and in predictions.json)')
    return results


if __name__ == '__main__':
    run_cli(main)
