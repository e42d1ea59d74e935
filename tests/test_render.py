"""Films, grids and curves read back from disk: frame counts, sizes, colours, atomic writes, CJK glyphs."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest
from PIL import Image

from embviz.errors import ConfigError, EmbvizError
from embviz.film import fonts, render
from embviz.film.animate_options import FilmOptions
from embviz.film.drawing import OTHER_COLOR, PALETTE, Film, RenderError, category_colors, choose_label_words
from embviz.film.figures import curves_figure, default_grid_snapshots, grid_figure, render_curves, render_grid
from embviz.film.fonts import FontError, configure_fonts, find_cjk_font, font_families
from embviz.film.render import FfmpegUnavailable, frame_count, render_film

SIZE = (320, 240)
CATS = ["animals", "colours", "numbers", "days"]


def make_film(t: int = 3, n: int = 40, seed: int = 0, words: list[str] | None = None) -> Film:
    """Points moving from a random cloud to four clusters; every fifth word uncategorised."""
    rng = np.random.default_rng(seed)
    labels = [None if i % 5 == 4 else CATS[i % 4] for i in range(n)]
    centres = {c: np.array(v) * 4.0 for c, v in zip(CATS, [(1, 1), (-1, 1), (-1, -1), (1, -1)])}
    final = np.array([centres[lab] if lab else (0.0, 0.0) for lab in labels]) + rng.normal(size=(n, 2)) * 0.3
    start = rng.normal(size=(n, 2)) * 3
    positions = start + (final - start) * np.linspace(0, 1, t)[:, None, None]
    steps = np.linspace(0, 1000, t).round()
    losses = np.linspace(6, 3, t)
    losses[0] = np.nan
    curve = np.arange(0, 1001, 50.0)
    return Film(positions, words or [f"w{i}" for i in range(n)], labels, steps, steps / 500, losses,
                (curve, 6 - 3 * curve / 1000), "test run")


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
        return frames


def test_frame_count_formula():
    # (T - 1) * round(fps * sps) + 1 + round(fps * HOLD_SECONDS)
    assert frame_count(3, 10, 0.5) == 2 * 5 + 1 + 10
    assert frame_count(1, 30, 0.5) == 1 + 30
    assert frame_count(4, 10, 0.01) == 3 * 1 + 1 + 10
    assert frame_count(3, 30, 0.5, "gif") == 2 * 10 + 1 + 20  # gifs are capped at 20 fps


def test_mp4_frames_and_size(tmp_path):
    film = make_film()
    calls, temps = [], set()

    def progress(done, total):
        calls.append((done, total))
        temps.update(p.name for p in tmp_path.iterdir())

    result = render_film(film, tmp_path / "film.mp4", FilmOptions(fps=10, seconds_per_snapshot=0.5, size=SIZE),
                         progress=progress)
    frames = iio.imread(result.path)
    assert result.n_frames == frame_count(3, 10, 0.5) == len(frames) == 21
    assert frames.shape[1:3] == (SIZE[1], SIZE[0]) == (result.height, result.width)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 2
    assert calls[-1] == (21, 21) and len(calls) == 21
    # while writing, one temp file named as a run's stray-file cleanup expects (".<name>.<random>.tmp")
    [temp] = temps
    assert temp.startswith(".film.mp4.") and temp.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_mp4_odd_size_rounds_down_to_even(tmp_path):
    result = render_film(make_film(t=2), tmp_path / "odd.mp4", FilmOptions(fps=4, size=(321, 241)))
    assert (result.width, result.height) == (320, 240)
    assert iio.imread(result.path, index=0).shape[:2] == (240, 320)


def test_gif_frames_loop_and_category_colours(tmp_path):
    film = make_film()
    result = render_film(film, tmp_path / "film.gif", FilmOptions(fps=30, seconds_per_snapshot=0.5, size=SIZE))
    frames = gif_frames(result.path)
    assert len(frames) == result.n_frames == frame_count(3, 30, 0.5, "gif")
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert not np.array_equal(frames[0], frames[-1])
    with Image.open(result.path) as im:
        assert im.info["loop"] == 0
    final = frames[-1].reshape(-1, 3).astype(int)
    for name, rgba in category_colors(film.labels).items():
        target = np.round(np.array(rgba[:3]) * 255)
        close = (np.abs(final - target).max(axis=1) <= 8).sum()
        assert close >= 100, f"colour of {name} missing from the final frame"


def test_gif_is_scaled_down_to_max_width(tmp_path):
    result = render_film(make_film(t=2), tmp_path / "wide.gif", FilmOptions(fps=4, size=(1280, 720)))
    assert (result.width, result.height) == (render.GIF_MAX_WIDTH, 360)
    with Image.open(result.path) as im:
        assert im.size == (640, 360)


def test_static_film_has_identical_frames(tmp_path):
    film = make_film(t=3)
    still = Film(np.repeat(film.positions[-1:], 3, axis=0), film.words, film.labels, np.zeros(3), np.zeros(3),
                 np.full(3, 2.0), film.loss_curve, "still")
    frames = gif_frames(render_film(still, tmp_path / "still.gif", FilmOptions(fps=4, size=SIZE)).path)
    assert all(np.array_equal(frames[0], f) for f in frames[1:])


def test_outlier_does_not_shrink_the_map(tmp_path):
    film = make_film(t=2, n=200)
    film.positions[-1, 0] = (1e4, 1e4)  # one far point at the end
    final = gif_frames(render_film(film, tmp_path / "outlier.gif", FilmOptions(fps=4, size=SIZE)).path)[-1]
    coloured = np.argwhere(final.max(axis=2).astype(int) - final.min(axis=2) > 60)
    main = coloured[coloured[:, 1] < SIZE[0] * 0.74]  # left of the legend column
    width = main[:, 1].max() - main[:, 1].min()
    assert width > 0.4 * SIZE[0], "the clusters collapsed into a corner"


class Boom(Exception):
    pass


@pytest.mark.parametrize("fmt, writer", [("mp4", "_Mp4Writer"), ("gif", "_GifWriter")])
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, fmt, writer):
    out = tmp_path / f"film.{fmt}"
    out.write_bytes(b"old film")
    cls = getattr(render, writer)
    real_write = cls.write
    written = []

    def failing_write(self, frame):
        if len(written) == 3:
            raise Boom
        written.append(1)
        real_write(self, frame)

    monkeypatch.setattr(cls, "write", failing_write)
    with pytest.raises(Boom):
        render_film(make_film(), out, FilmOptions(fps=10, size=SIZE))
    assert out.read_bytes() == b"old film"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_unwritable_destination_raises(tmp_path):
    with pytest.raises(EmbvizError, match="cannot write"):
        render_film(make_film(), tmp_path / "missing" / "film.mp4", FilmOptions(size=SIZE))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EmbvizError, match="cannot write"):
        render_film(make_film(), blocker / "film.gif", FilmOptions(size=SIZE))
    with pytest.raises(EmbvizError, match="cannot write"):
        render_grid(make_film(), tmp_path / "missing" / "grid.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_raises(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(EmbvizError, match="cannot write"):
            render_film(make_film(), locked / "film.mp4", FilmOptions(size=SIZE))
    finally:
        locked.chmod(0o755)


def test_missing_ffmpeg_raises_specific_error(tmp_path, monkeypatch):
    def no_ffmpeg():
        raise RuntimeError("no ffmpeg exe could be found")

    monkeypatch.setattr(render.imageio_ffmpeg, "get_ffmpeg_exe", no_ffmpeg)
    with pytest.raises(FfmpegUnavailable) as info:
        render_film(make_film(), tmp_path / "film.mp4", FilmOptions(size=SIZE))
    assert isinstance(info.value, EmbvizError)
    assert list(tmp_path.iterdir()) == []
    # The documented fallback: the same film as a gif.
    assert render_film(make_film(t=2), tmp_path / "film.gif", FilmOptions(fps=4, size=SIZE)).path.exists()


def test_bad_options_and_films_raise():
    film = make_film()
    with pytest.raises(ConfigError):
        render_film(film, Path("film.avi"), FilmOptions(size=SIZE))
    with pytest.raises(ConfigError):
        render_film(film, Path("film.gif"), FilmOptions(size=SIZE), fmt="mp4")
    with pytest.raises(ConfigError):
        render_film(film, Path("film.mp4"), FilmOptions(fps=0, size=SIZE))
    with pytest.raises(RenderError):
        Film(film.positions[:, :, :1], film.words, film.labels, film.steps, film.epochs, film.losses)
    with pytest.raises(RenderError):
        Film(film.positions, film.words[:-1], film.labels, film.steps, film.epochs, film.losses)
    with pytest.raises(RenderError):
        Film(film.positions, film.words, film.labels, film.steps[:-1], film.epochs, film.losses)


def test_category_colors_order_by_size_then_name():
    labels = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + [None] * 4
    colors = category_colors(labels)
    assert list(colors) == ["c", "a", "b"]
    assert [colors[c] for c in ["c", "a", "b"]] == list(PALETTE[:3])
    many = [f"cat{i:02d}" for i in range(25)]
    colors = category_colors(many)
    assert len(set(colors.values())) == len(PALETTE) + 1
    assert colors["cat24"] == OTHER_COLOR


def test_label_choice_spreads_over_categories_and_keeps_requested_words():
    words = [f"w{i}" for i in range(12)]
    labels = ["a", "a", "a", "a", "b", "b", "c", None, None, "a", "b", "c"]
    assert choose_label_words(words, labels, 3) == [0, 4, 6]
    assert choose_label_words(words, labels, 3, ["w8"]) == [0, 4, 6, 8]
    assert len(choose_label_words(words, labels, 11)) == 11
    with pytest.warns(UserWarning, match="nope"):
        choose_label_words(words, labels, 1, ["nope"])


def test_default_grid_panels_follow_the_change_not_the_snapshot_count():
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=(2, 30, 2))
    even = np.linspace(0, 1, 11)[:, None, None]
    assert default_grid_snapshots(start + even * (end - start)) == [0, 2, 4, 6, 8, 10]
    # Nothing moves for 20 snapshots, then all the change happens in the next 5: panels go there.
    late = np.clip((np.arange(31) - 20) / 5, 0, 1)[:, None, None]
    chosen = default_grid_snapshots(start + late * (end - start))
    assert chosen[0] == 0 and chosen[-1] == 30 and sum(20 < i <= 25 for i in chosen) >= 4
    assert default_grid_snapshots(np.repeat(start[None], 11, axis=0)) == [0, 2, 4, 6, 8, 10]
    assert default_grid_snapshots(start[None].repeat(3, axis=0)) == [0, 1, 2]


def test_grid_has_one_panel_per_snapshot(tmp_path):
    film = make_film(t=10)
    assert len(grid_figure(film).axes) == len(default_grid_snapshots(film.positions))
    assert len(grid_figure(film, [0, 9]).axes) == 2
    out = render_grid(film, tmp_path / "grid.png", snapshots=[0, 4, 9], dpi=50)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > im.height
    with pytest.raises(ConfigError):
        grid_figure(film, [10])


def _drawn_panels(pixels: np.ndarray, fig, colour: str) -> list[tuple[float, int]]:
    """Per axes of ``fig`` (drawn at the PNG's size): the share of non-white pixels inside it and how many
    pixels are within a small distance of ``colour``; the axes' frame (spines) is left out."""
    height = pixels.shape[0]
    rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
    found = []
    for ax in fig.axes:
        x0, y0, x1, y1 = ax.get_window_extent().extents
        box = pixels[height - int(y1) + 3: height - int(y0) - 3, int(x0) + 3: int(x1) - 3]
        found.append((float((box.min(axis=2) < 250).mean()), int((np.abs(box - rgb).sum(axis=2) < 60).sum())))
    return found


def test_curves_png(tmp_path):
    steps = np.array([0, 10, 100, 1000])
    table = {"purity": np.array([0.25, 0.3, 0.6, 0.9]), "cka": np.array([0.1, 0.4, np.nan, 0.95])}
    out = render_curves(table, steps, tmp_path / "curves.png", chance={"purity": 0.25}, title="run")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 200
        pixels = np.asarray(im.convert("RGB")).astype(int)
    fig = curves_figure(table, steps, chance={"purity": 0.25}, title="run")  # the same figure, to find its axes
    fig.set_dpi(120)  # render_curves' dpi
    fig.canvas.draw()
    assert len(fig.axes) == 2 and fig.canvas.get_width_height() == (pixels.shape[1], pixels.shape[0])
    (purity_ink, purity_blue), (cka_ink, cka_blue) = _drawn_panels(pixels, fig, "tab:blue")
    assert purity_blue > 100 and cka_blue > 60  # each curve's line and markers (cka's has a gap at nan)
    assert 0.01 < purity_ink < 0.5 and 0.01 < cka_ink < 0.5
    grey = [n for _, n in _drawn_panels(pixels, fig, "0.5")]
    assert grey[0] > 20 and grey[1] < 5  # the dashed chance line (and its legend entry), in the purity panel only
    blank = np.full_like(pixels, 255)
    assert all(ink == 0 and n == 0 for ink, n in _drawn_panels(blank, fig, "tab:blue"))
    with pytest.raises(ConfigError):
        render_curves({"purity": np.ones(3)}, steps, tmp_path / "bad.png")


CJK_WORDS = ["中国", "北京", "上海", "日本"]


def glyph_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "missing" in str(w.message) or "Glyph" in str(w.message)]


@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font installed (apt-get install fonts-wqy-microhei)")
def test_cjk_labels_draw_without_missing_glyphs(tmp_path):
    words = CJK_WORDS + [f"w{i}" for i in range(36)]
    film = make_film(words=words)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        render_film(film, tmp_path / "cjk.gif", FilmOptions(fps=4, size=SIZE, label_words=tuple(CJK_WORDS)))
        render_grid(film, tmp_path / "cjk.png", dpi=50)
    assert glyph_warnings(record) == []
    with matplotlib.rc_context():
        assert configure_fonts(CJK_WORDS) == []
        assert matplotlib.rcParams["font.family"][0] == "DejaVu Sans"
        assert len(matplotlib.rcParams["font.family"]) == 2


@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font installed (apt-get install fonts-wqy-microhei)")
def test_stamped_cjk_labels_are_their_glyphs_not_boxes():
    from embviz.film.drawing import font_rc
    from embviz.film.sprites import LabelSprites

    with matplotlib.rc_context(font_rc(CJK_WORDS, None)):
        stamps = LabelSprites(CJK_WORDS + ["□□"], 9.0, 100)
        masks = [np.asarray(stamps.get(i, 0, 0).mask) for i in range(len(CJK_WORDS) + 1)]
    boxes = masks[-1]
    for word, mask in zip(CJK_WORDS, masks):
        assert mask.shape[1] > 15 and (mask > 128).sum() > 20, f"{word} drew no glyphs"
        assert mask.shape != boxes.shape or not np.array_equal(mask, boxes), f"{word} drew as boxes"
    assert len({m.tobytes() for m in masks[:-1]}) == len(CJK_WORDS)  # each word its own glyphs


def test_without_cjk_font_one_warning_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    families, problems = font_families(CJK_WORDS)
    assert families == ["DejaVu Sans"]
    assert len(problems) == 1 and "--font PATH" in problems[0] and "fonts-wqy-microhei" in problems[0]
    assert font_families(["plain", "ascii", "café"]) == (["DejaVu Sans"], [])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        render_film(make_film(words=CJK_WORDS + [f"w{i}" for i in range(36)]), tmp_path / "boxes.gif",
                    FilmOptions(fps=4, size=SIZE, label_words=tuple(CJK_WORDS)))
    assert any("fonts-wqy-microhei" in m for m in glyph_warnings(record))


def test_bad_font_path_raises(tmp_path):
    with pytest.raises(FontError, match="does not exist"):
        font_families(["x"], tmp_path / "nope.ttf")
    fake = tmp_path / "fake.ttf"
    fake.write_text("not a font")
    with pytest.raises(EmbvizError, match="not a readable font"):
        font_families(["x"], fake)


def _point_extent(frame: np.ndarray) -> float:
    """The area of the box holding the coloured pixels left of the legend column (the points), in pixels."""
    coloured = np.argwhere(frame.max(axis=2).astype(int) - frame.min(axis=2) > 60)
    main = coloured[(coloured[:, 1] < frame.shape[1] * 0.72) & (coloured[:, 0] > frame.shape[0] * 0.1)]
    return float(np.ptp(main[:, 0]) * np.ptp(main[:, 1]))


def _caption_ink(frame: np.ndarray) -> np.ndarray:
    """The caption strip under the map (below the axes), as dark-pixel columns."""
    strip = frame[int(frame.shape[0] * 0.965):, : int(frame.shape[1] * 0.7)].min(axis=2)
    return (strip < 160).any(axis=0)


def test_follow_view_zooms_in_on_the_first_frames_and_says_so(tmp_path):
    film = make_film(t=3, n=60)
    film.positions[0] *= 0.2  # a small blob first, as in a real film
    frames = {view: gif_frames(render_film(film, tmp_path / f"{view}.gif",
                                           FilmOptions(fps=4, size=(480, 320), view=view)).path)
              for view in ("fixed", "follow")}
    assert _point_extent(frames["follow"][0]) > 4 * _point_extent(frames["fixed"][0])
    # the last snapshot fills the fixed view already: both views end alike
    assert _point_extent(frames["follow"][-1]) == pytest.approx(_point_extent(frames["fixed"][-1]), rel=0.35)
    # the caption is drawn, and differs: "fixed for the whole run" vs "follows the points (zoom ×N)", which changes
    fixed_ink, follow_ink = _caption_ink(frames["fixed"][0]), _caption_ink(frames["follow"][0])
    assert fixed_ink.sum() > 30 and follow_ink.sum() > 30
    assert (fixed_ink != follow_ink).sum() > 10
    assert not np.array_equal(_caption_ink(frames["follow"][0]), _caption_ink(frames["follow"][-1]))
    assert np.array_equal(_caption_ink(frames["fixed"][0]), _caption_ink(frames["fixed"][-1]))


def test_view_captions_and_limits():
    from embviz.film.drawing import view_caption, view_limits

    film = make_film(t=3, n=60)
    film.positions[0] *= 0.2
    fixed, ones = view_limits(film.positions, "fixed")
    follow, zoom = view_limits(film.positions, "follow")
    assert np.allclose(fixed, fixed[0]) and np.all(ones == 1)
    assert zoom[0] > 2 and zoom[-1] == pytest.approx(1, abs=0.3)
    span = lambda lim: lim[:, 1] - lim[:, 0]  # noqa: E731
    assert np.allclose(span(follow[0]) * zoom[0], span(fixed[0]))  # one uniform zoom: the aspect is kept
    assert view_caption("fixed", 1) == "scale: fixed for the whole run"
    assert view_caption("follow", 4.26) == "scale: follows the points (zoom ×4.3)"
    with pytest.raises(ConfigError, match="view"):
        FilmOptions(view="wobble").validate()
