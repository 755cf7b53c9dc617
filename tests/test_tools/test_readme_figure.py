"""tools/readme_figure.py: the README's picture, remade from a simulated recording."""
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from spikeclip.visualization.grid import NOTE_HEIGHT, TITLE_HEIGHT

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'readme_figure.py'


def test_the_picture_shows_three_viewable_panels(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('readme_figure_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'example.jpg'
    assert tool.main(['--out', str(out)]) == 0
    assert f'wrote {out}' in capsys.readouterr().out
    grid = np.asarray(Image.open(out).convert('L')).astype(float)
    assert grid.shape == (TITLE_HEIGHT + 250 + NOTE_HEIGHT, 3 * 400 + 2 * 8)
    panels = [grid[TITLE_HEIGHT:TITLE_HEIGHT + 250, x:x + 400] for x in (0, 408, 816)]
    spikes, tfp, model = panels
    assert spikes.mean() < 60  # one sparse bit-plane
    for panel in (tfp, model):  # at the default exposure: the bright end is near white
        assert np.percentile(panel, 99.5) > 230 and 60 < panel.mean() < 200
