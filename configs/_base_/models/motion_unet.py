# Stage 1 for moving scenes: MotionUNet over a 41-frame window (raw frames, a centred rate
# pyramid and inter-spike intervals, light-normalised), starting as TFP over the window.
model = dict(
    type='CoarseModel',
    encoder=dict(type='MotionUNet', window=41),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=41))
