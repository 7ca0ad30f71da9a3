"""The loss curve a checkpoint's card shows: training and validation loss against steps, as a PNG."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COLOURS = {"train": (31, 119, 180), "val": (214, 39, 40)}
MARGINS = (60, 20, 20, 40)  # left, right, top, bottom: room for the axes' labels


@dataclass(frozen=True)
class _Frame:
    """The plot's area in pixels and the steps and losses it spans."""

    width: int
    height: int
    max_step: float
    low: float
    high: float
    span: float

    @classmethod
    def around(cls, points: list[tuple[float, float]], size: tuple[int, int]) -> _Frame:
        low, high = min(v for _, v in points), max(v for _, v in points)
        return cls(*size, max(max(s for s, _ in points), 1), low, high, (high - low) or 1.0)

    def xy(self, step: float, value: float) -> tuple[float, float]:
        """The pixel of a loss at a step."""
        left, right, top, bottom = MARGINS
        x = left + (self.width - left - right) * step / self.max_step
        y = top + (self.height - top - bottom) * (self.high - value) / self.span
        return x, y


def write_loss_curve(history: list[dict], path: Path, size: tuple[int, int] = (720, 400)) -> Path | None:
    """Training and validation loss against steps as a PNG, drawn with Pillow when it is installed."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        log.info("Pillow is not installed; no loss curve drawn")
        return None
    series = {
        "train": [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h],
        "val": [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h],
    }
    points = [p for values in series.values() for p in values]
    if not points:
        return None
    frame = _Frame.around(points, size)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    _axes(draw, frame)
    for row, (name, values) in enumerate(series.items()):
        _series(draw, frame, name, values, row)
    image.save(path)
    return path


def _axes(draw, frame: _Frame) -> None:
    """The frame, five loss ticks on the left and five step labels below."""
    left, right, top, bottom = MARGINS
    draw.rectangle([left, top, frame.width - right, frame.height - bottom], outline="black")
    for i in range(5):
        value = frame.low + frame.span * i / 4
        _, y = frame.xy(0, value)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{value:.2f}", fill="black")
    for i in range(5):
        step = frame.max_step * i / 4
        x, _ = frame.xy(step, frame.low)
        draw.text((x - 10, frame.height - bottom + 6), f"{step:.0f}", fill="black")
    draw.text((frame.width // 2 - 20, frame.height - 16), "step", fill="black")


def _series(draw, frame: _Frame, name: str, values: list[tuple[float, float]], row: int) -> None:
    """One loss's line and points, and its name in the legend's row."""
    _, right, top, _ = MARGINS
    if len(values) > 1:
        draw.line([frame.xy(s, v) for s, v in values], fill=COLOURS[name], width=2)
    for s, v in values:
        x, y = frame.xy(s, v)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=COLOURS[name])
    draw.text((frame.width - right - 110, top + 8 + 14 * row), f"{name} loss", fill=COLOURS[name])
