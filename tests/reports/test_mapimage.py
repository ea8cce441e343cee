"""The report's map: country outlines decoded from TopoJSON (quantised, delta-encoded arcs) and drawn fitted to the
positions, or a graticule alone where the outlines file is missing or unreadable."""

from __future__ import annotations

import io
import json

from PIL import Image

from reports.mapimage import (
    HEIGHT,
    LATITUDE_LIMIT,
    WIDTH,
    _arcs_decode,
    _Projection,
    bounding_box,
    country_arcs,
    map_png,
)

POINTS = [(48.8584, 2.2945), (51.5007, -0.1246)]


def test_quantised_arcs_are_decoded_with_the_topology_transform():
    topology = {"transform": {"scale": [0.5, 0.25], "translate": [10, 20]}, "arcs": [[[0, 0], [2, 4], [-1, 0]]]}
    (arc,) = _arcs_decode(topology)
    assert arc.tolist() == [[10.0, 20.0], [11.0, 21.0], [10.5, 21.0]]


def test_outlines_are_drawn_where_the_file_is_and_a_graticule_alone_where_it_is_not(tmp_path):
    # A square "country" around the positions: its outline crosses the map.
    square = [[[-1.5, 47], [4.5, 47], [4.5, 53], [-1.5, 53], [-1.5, 47]]]
    atlas = tmp_path / "atlas.json"
    atlas.write_text(json.dumps({"type": "Topology", "arcs": square, "objects": {}}))
    with_outlines, drawn = map_png(POINTS, atlas=atlas)
    without, none_drawn = map_png(POINTS, atlas=tmp_path / "missing.json")
    assert drawn
    assert not none_drawn
    assert country_arcs(str(tmp_path / "missing.json")) == ()
    first, second = (Image.open(io.BytesIO(png)).convert("RGB") for png in (with_outlines, without))
    assert first.size == second.size == (WIDTH, HEIGHT)
    outline = (0x6B, 0x7B, 0x8C)
    assert outline in {colour for _, colour in first.getcolors(1 << 16)}
    assert outline not in {colour for _, colour in second.getcolors(1 << 16)}
    # The positions are drawn on both.
    assert (0xC0, 0x39, 0x2B) in {colour for _, colour in second.getcolors(1 << 16)}


def test_a_report_without_outlines_says_so(reported, team, settings, tmp_path):
    from reports.services import report_scope_for, report_write

    settings.REPORT_ATLAS = tmp_path / "missing.json"
    scope = report_scope_for(user=team["lead"], reference="2024-017")
    target = tmp_path / "r.html"
    report_write(scope=scope, sections=("gps",), fmt="html", reveal=False, requester="lead", target=target)
    assert "The country outlines are not installed here" in target.read_text()


def test_positions_near_a_pole_are_drawn_at_the_edge_of_the_projection():
    box = bounding_box([(89.5, 10.0), (88.0, 11.0)])
    assert box.south < box.north <= LATITUDE_LIMIT
    assert _Projection(box).scale > 0
    png, _ = map_png([(89.5, 10.0), (-89.9, 12.0)], atlas=None)
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    assert (0xC0, 0x39, 0x2B) in {colour for _, colour in picture.getcolors(1 << 16)}


def test_positions_either_side_of_the_antimeridian_are_boxed_across_it():
    box = bounding_box([(-17.0, 179.5), (-18.0, -179.5)])  # Fiji
    assert box.east - box.west < 5
    assert box.west < 180 < box.east
    png, _ = map_png([(-17.0, 179.5), (-18.0, -179.5)], atlas=None)
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    red = [(x, y) for x in range(WIDTH) for y in range(HEIGHT) if picture.getpixel((x, y)) == (0xC0, 0x39, 0x2B)]
    xs = [x for x, _ in red]
    # Both points are drawn, near each other in the middle of the map, not at its two ends.
    assert max(xs) - min(xs) > 8
    assert max(xs) - min(xs) < WIDTH / 2
