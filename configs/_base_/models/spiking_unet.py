# Stage 1 with the spiking encoder-decoder (LIF neurons over time bins, conventional decoder).
model = dict(
    type='CoarseModel',
    encoder=dict(type='SpikingUNet', window=200),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=200))
