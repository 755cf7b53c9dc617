"""Reconstruct (and classify) spike recordings with a stage or combined checkpoint.

``python tools/infer.py CHECKPOINT INPUT [INPUT ...] --out-dir DIR [--frame INDEX]``
writes ``DIR/<input stem>.png`` and ``DIR/predictions.json`` (rewritten as inputs finish;
``--skip-errors`` goes on past bad inputs and lists them at the end). The checkpoint carries its
model config; ``--config`` replaces it, ``--cfg-options model.<field>=...`` overrides fields of it.

``python tools/infer.py CHECKPOINT REC.dat --out-dir DIR --frames START:STOP[:STEP]
[--video [FILE.mp4]] [--fps N] [--batch-size B] [--pad reflect]`` reconstructs every STEP-th
frame into ``DIR/<stem>/<frame>.png`` (and an MP4), streaming the recording, with a progress
bar; rerunning the same command after a kill continues where it stopped.

Images are shown at ``--exposure`` (default ``auto``: one gain per recording, from its
reconstruction; ``linear``: the spike rate itself; or a fixed GAIN), recorded as ``gain`` in
predictions.json; ``--save-float`` also writes the linear rates as float32 ``.npy``.
"""
import argparse
import signal
import sys

from spikeclip.apis import infer_files, infer_recordings, init_model
from spikeclip.engine.fast_inference import AMP_MODES, retain_freed_memory
from spikeclip.engine.runner import DictAction
from spikeclip.fileio.sensors import SENSOR_HELP, SENSORS, check_size_options
from spikeclip.utils.cli import run_cli
from spikeclip.utils.env import OFFLINE_HELP, set_offline
from spikeclip.utils.errors import SpikeCLIPError
from spikeclip.utils.exposure import EXPOSURE_HELP, Exposure


def parse_args(argv=None):
    # argparse takes '--frames -5:10' for an option; joined, the range gets its own error.
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):
        if argv[i] == '--frames' and argv[i + 1].startswith('-'):
            argv[i:i + 2] = [f'--frames={argv[i + 1]}']
            break
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
    video = parser.add_argument_group(
        'whole recordings to high-speed video',
        'reconstruct every STEP-th frame, each from the window centred on it')
    video.add_argument('--frames', metavar='START:STOP[:STEP]',
                       help='centre frames (STOP excluded; ":" is every frame a full window '
                       'fits around); writes DIR/<stem>/<frame>.png')
    video.add_argument('--video', nargs='?', const=True, metavar='FILE.mp4',
                       help='also an H.264 MP4 of the frames (default file: DIR/<stem>.mp4)')
    video.add_argument('--fps', type=float, default=30.0,
                       help='playback frame rate of the video (default: 30)')
    video.add_argument('--batch-size', type=int,
                       help='windows per model call (default: 4 on a GPU, 1 on a CPU)')
    video.add_argument('--overlap', action=argparse.BooleanOptionalAction, default=None,
                       help='read and write in threads of their own while the model runs '
                       '(default: on a GPU; on a CPU they take cores from the model)')
    video.add_argument('--pad', choices=['reflect'],
                       help='also reconstruct frames too close to the ends for a full window '
                       '(--frames, or --frame), mirroring the recording there (default: such '
                       'frames are an error)')
    video.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--height', type=int, help='.dat frame height (default: 250)')
    parser.add_argument('--width', type=int, help='.dat frame width (default: 400)')
    parser.add_argument('--sensor', choices=list(SENSORS), help=SENSOR_HELP)
    parser.add_argument('--save-coarse', action='store_true', help='also save the stage-1 image')
    parser.add_argument('--exposure', type=_exposure, default='auto', metavar='auto|linear|GAIN',
                        help=EXPOSURE_HELP)
    parser.add_argument('--save-float', action='store_true',
                        help='also write the linear spike rates as float32 .npy, for measurement')
    parser.add_argument('--skip-errors', action='store_true',
                        help='go on past unreadable inputs; list them at the end (exit code 1)')
    parser.add_argument('--offline', action='store_true', help=OFFLINE_HELP)
    parser.add_argument('--device', help='cpu or cuda (default: cuda where available)')
    parser.add_argument('--amp', choices=AMP_MODES, default='auto',
                        help='autocast precision (auto: bf16 where the hardware has it)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help='channels_last weights (default: auto, on with bf16/fp16)')
    return parser.parse_args(argv)


def _exposure(text: str) -> Exposure:
    try:
        return Exposure.parse(text)
    except SpikeCLIPError as e:
        raise argparse.ArgumentTypeError(str(e).replace(f'--exposure {text!r}: ', '')) from None


def check_args(args) -> None:
    """Options of the one mode given without the other's."""
    if args.frames is None:
        given = [f'--{name.replace("_", "-")}' for name, default in (
            ('video', None), ('batch_size', None), ('overlap', None),
            ('fps', 30.0))
            if getattr(args, name) != default]
        if given:
            verb = 'needs' if len(given) == 1 else 'need'
            raise SpikeCLIPError(f'{", ".join(given)} {verb} --frames START:STOP[:STEP] '
                                 '(--frames : for every frame)')
    elif args.frame is not None:
        raise SpikeCLIPError('--frame and --frames exclude each other: --frame reconstructs one '
                             'image per input, --frames a range of frames')


def _terminated(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (kill, a job scheduler) stops the run like Ctrl-C


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    args.height, args.width = check_size_options(args.height, args.width, args.sensor)
    signal.signal(signal.SIGTERM, _terminated)
    set_offline(args.offline)
    retain_freed_memory()  # keep freed activations: no page faults on every forward pass
    model = init_model(args.checkpoint, args.config, args.device, args.cfg_options)
    if args.frames is not None:
        return main_frames(args, model)
    try:
        results = infer_files(model, args.inputs, args.out_dir, args.frame, args.height,
                              args.width, args.save_coarse, amp=args.amp,
                              channels_last='auto' if args.channels_last is None else
                              args.channels_last, skip_errors=args.skip_errors, pad=args.pad,
                              exposure=args.exposure, save_float=args.save_float,
                              sensor=args.sensor)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f'interrupted; the finished inputs are listed in '
                                f'{args.out_dir}/predictions.json') from None
    for r in results:
        if 'error' not in r:
            top = f" -> {r['topk'][0]['name']} ({r['topk'][0]['score']:.2f})" if 'topk' in r else ''
            print(f"{r['input']}: {r['image']}{top}")
    return report_failures(args, results)


def main_frames(args, model):
    """``--frames``: every STEP-th frame of each recording into a PNG folder (and a video)."""
    try:
        results = infer_recordings(
            model, args.inputs, args.out_dir, args.frames, video=args.video, fps=args.fps,
            batch_size=args.batch_size, pad=args.pad, height=args.height, width=args.width,
            save_coarse=args.save_coarse, amp=args.amp,
            channels_last='auto' if args.channels_last is None else args.channels_last,
            skip_errors=args.skip_errors, progress=not args.no_progress, overlap=args.overlap,
            exposure=args.exposure, save_float=args.save_float, sensor=args.sensor)
    except KeyboardInterrupt:
        raise KeyboardInterrupt('interrupted; the frames written so far are kept: rerun the same '
                                'command to continue') from None
    for r in results:
        if 'error' not in r:
            video = f" and {r['video']}" if 'video' in r else ''
            clip = r.get('clip')
            label = (f" -> {clip['topk'][0]['name']} ({clip['topk'][0]['score']:.2f}, top-1 of "
                     f"{clip['agreement']:.0%} of the frames)" if clip else '')
            print(f"{r['input']}: {r['count']} frames in {r['folder']}/{video}{label}")
    return report_failures(args, results)


def report_failures(args, results):
    """Name predictions.json, list the inputs that failed (``--skip-errors``) and end with an
    error if any did."""
    print(f'predictions: {args.out_dir}/predictions.json')
    failed = [r for r in results if 'error' in r]
    if failed:
        for r in failed:
            print(f"skipped {r['error']}", file=sys.stderr)
        raise SpikeCLIPError(f'{len(failed)} of {len(results)} inputs could not be processed '
                             '(listed above and in predictions.json)')
    return results


if __name__ == '__main__':
    run_cli(main)
