# Stage 1 with the paper's lightweight reconstruction network: 200 frames -> 50 bins -> image.
model = dict(
    type='CoarseModel',
    encoder=dict(type='LRN', window=200, bin_size=4),
    data_preprocessor=dict(type='SpikeDataPreprocessor', window=200))
