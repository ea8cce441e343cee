"""The report's static map: the images' GPS positions drawn on the country outlines shipped with the app
(world-atlas's countries-50m TopoJSON, static/vendor/world-atlas), fitted to the positions' bounding box with a
margin, with a graticule and its coordinates. Drawn here with Pillow, so that no tile server (nor any network) is
needed; where the outlines file is missing (`make static` did not run), the graticule alone.

Equirectangular projection, longitude scaled by the cosine of the box's middle latitude, so that shapes keep their
proportions at the latitudes shown."""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1000, 640
PAD = 40  # pixels left for the coordinate labels
SEA, LAND_LINE, GRID, POINT, EDGE = "#f4f7fb", "#6b7b8c", "#c9d3de", "#c0392b", "#ffffff"
# Graticule steps, in degrees: the first that gives at least three lines across the box.
# The latitudes the projection shows, either side of the equator: positions nearer a pole are drawn at its edge.
LATITUDE_LIMIT = 85.0
STEPS = (60, 30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


@dataclass(frozen=True)
class Box:
    west: float
    south: float
    east: float
    north: float


def _arcs_decode(topology: dict) -> list[np.ndarray]:
    """Every arc of a TopoJSON topology as an (n, 2) array of longitude, latitude: quantised arcs are delta-encoded
    positions, turned back into coordinates by the topology's transform (scale, translate)."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        points = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform:
            points = np.cumsum(points, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(points)
    return arcs


@functools.lru_cache(maxsize=2)
def country_arcs(path: str) -> tuple[np.ndarray, ...]:
    """The country outlines of the TopoJSON file at `path` (decoded once per process); none when it is missing or
    cannot be read."""
    try:
        topology = json.loads(Path(path).read_text())
        return tuple(_arcs_decode(topology))
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def _wrapped(lons: list[float]) -> list[float]:
    """The longitudes as the map places them: as they are, or, where the positions lie either side of the
    antimeridian and the box across it is the narrower, the western ones moved by 360 degrees (east of 180)."""
    across = [lon + 360.0 if lon < 0 else lon for lon in lons]
    return across if max(across) - min(across) < max(lons) - min(lons) else lons


def bounding_box(points: list[tuple[float, float]]) -> Box:
    """The positions' (lat, lon) box with a margin of a tenth of its size each side (at least a quarter degree),
    kept inside the latitudes the projection shows (LATITUDE_LIMIT) and, unless it crosses the antimeridian (then
    its east is beyond 180), inside the world."""
    lats = [min(max(lat, -LATITUDE_LIMIT), LATITUDE_LIMIT) for lat, _ in points]
    lons = _wrapped([lon for _, lon in points])
    margin_lat = max((max(lats) - min(lats)) * 0.1, 0.25)
    margin_lon = max((max(lons) - min(lons)) * 0.1, 0.25)
    across = max(lons) > 180.0
    return Box(
        west=min(lons) - margin_lon if across else max(min(lons) - margin_lon, -180.0),
        south=max(min(lats) - margin_lat, -LATITUDE_LIMIT),
        east=max(lons) + margin_lon if across else min(max(lons) + margin_lon, 180.0),
        north=min(max(lats) + margin_lat, LATITUDE_LIMIT),
    )


class _Projection:
    def __init__(self, box: Box) -> None:
        self.box = box
        aspect = math.cos(math.radians((box.north + box.south) / 2)) or 1e-6
        span_x = (box.east - box.west) * aspect
        span_y = box.north - box.south
        self.aspect = aspect
        self.scale = min((WIDTH - 2 * PAD) / span_x, (HEIGHT - 2 * PAD) / span_y)
        self.x0 = PAD + ((WIDTH - 2 * PAD) - span_x * self.scale) / 2
        self.y0 = PAD + ((HEIGHT - 2 * PAD) - span_y * self.scale) / 2
        # What the frame shows: the box, widened on the side that has room to spare.
        self.shown = Box(
            west=box.west - (self.x0 - PAD) / (aspect * self.scale),
            south=box.south - (self.y0 - PAD) / self.scale,
            east=box.east + (self.x0 - PAD) / (aspect * self.scale),
            north=box.north + (self.y0 - PAD) / self.scale,
        )

    def xy(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        x = self.x0 + (lons - self.box.west) * self.aspect * self.scale
        y = self.y0 + (self.box.north - lats) * self.scale
        return np.stack([x, y], axis=1)


def _label(value: float, positive: str, negative: str) -> str:
    if value > 180:  # east of the antimeridian, on a map across it
        value -= 360
    text = f"{abs(value):.3f}".rstrip("0").rstrip(".")
    return f"{text}\u00b0{positive if value >= 0 else negative}" if value else "0\u00b0"


def _graticule(draw: ImageDraw.ImageDraw, projection: _Projection, font: ImageFont.ImageFont) -> None:
    box = projection.shown
    span = min(box.east - box.west, box.north - box.south)
    step = next((s for s in STEPS if span / s >= 3), STEPS[-1])
    for lon in np.arange(math.ceil(box.west / step) * step, box.east + 1e-9, step):
        (x, top), (_, bottom) = projection.xy(np.array([lon, lon]), np.array([box.north, box.south]))
        draw.line([(x, top), (x, bottom)], fill=GRID, width=1)
        draw.text((x, HEIGHT - PAD + 6), _label(lon, "E", "W"), fill="#333333", font=font, anchor="mt")
    for lat in np.arange(math.ceil(box.south / step) * step, box.north + 1e-9, step):
        (left, y), (right, _) = projection.xy(np.array([box.west, box.east]), np.array([lat, lat]))
        draw.line([(left, y), (right, y)], fill=GRID, width=1)
        draw.text((PAD - 6, y), _label(lat, "N", "S"), fill="#333333", font=font, anchor="rm")


def map_png(points: Iterable[tuple[float, float]], *, atlas: Path | None) -> tuple[bytes, bool]:
    """A PNG of the positions (lat, lon) on the outlines of `atlas` (a TopoJSON file; None or missing: the
    graticule only), and whether the outlines were drawn. `points` is read once; it may be a generator."""
    found = [
        (min(max(lat, -LATITUDE_LIMIT), LATITUDE_LIMIT), lon)
        for lat, lon in points
        if -90 <= lat <= 90 and -180 <= lon <= 180
    ]
    box = bounding_box(found) if found else Box(-180.0, -60.0, 180.0, 80.0)
    if box.east > 180:
        found = [(lat, lon + 360.0 if lon < box.west else lon) for lat, lon in found]
    projection = _Projection(box)
    picture = Image.new("RGB", (WIDTH, HEIGHT), SEA)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    arcs = country_arcs(str(atlas)) if atlas is not None else ()
    # Across the antimeridian, the outlines west of it are drawn again 360 degrees east.
    shifts = (0.0, 360.0) if box.east > 180 else (0.0,)
    for arc, shift in ((arc, shift) for shift in shifts for arc in arcs):
        lons, lats = arc[:, 0] + shift, arc[:, 1]
        shown = projection.shown
        if lons.max() < shown.west or lons.min() > shown.east or lats.max() < shown.south or lats.min() > shown.north:
            continue
        draw.line([tuple(p) for p in projection.xy(lons, lats)], fill=LAND_LINE, width=1)
    # The outlines stop at the frame: the margins hold the coordinates.
    for margin in (
        (0, 0, WIDTH, PAD),
        (0, HEIGHT - PAD, WIDTH, HEIGHT),
        (0, 0, PAD, HEIGHT),
        (WIDTH - PAD, 0, WIDTH, HEIGHT),
    ):
        draw.rectangle(margin, fill="#ffffff")
    _graticule(draw, projection, font)
    if found:
        positions = projection.xy(np.array([p[1] for p in found]), np.array([p[0] for p in found]))
        for x, y in positions:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=POINT, outline=EDGE)
    draw.rectangle([PAD, PAD, WIDTH - PAD, HEIGHT - PAD], outline="#333333")
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue(), bool(arcs)
