// The background of every map. By default the country outlines shipped with the app (world-atlas, drawn by Leaflet
// as vector shapes): evidence locations never leave the lab. A lab's own tile server only when MAP_TILE_URL names it
// (data-tiles on the map's element). The outlines' URL is data-outlines on the element or one around it.

let outlines = null; // one download per page, shared by every map drawn on it

// A ring that crosses the antimeridian and comes back (Russia, Fiji: an even number of jumps) is drawn on Leaflet's
// plane as a line across the world; continued past ±180° instead, it is drawn where it is. A ring around a pole
// (Antarctica) crosses once and stays as it is.
function unwrap(ring) {
  const jumps = ring.filter((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180).length;
  if (jumps === 0 || jumps % 2) return ring;
  let shift = 0;
  return ring.map((p, i) => {
    const step = i > 0 ? p[0] - ring[i - 1][0] : 0;
    if (step > 180) shift -= 360;
    if (step < -180) shift += 360;
    return [p[0] + shift, p[1]];
  });
}

// A download that failed is forgotten, so that the next map asks again.
function countries(url) {
  outlines ??= fetch(url, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`country outlines: HTTP ${response.status}`);
      return response.json();
    })
    .then((topology) => {
      const shapes = topojson.feature(topology, topology.objects.countries);
      for (const { geometry } of shapes.features) {
        if (geometry?.type === "Polygon") geometry.coordinates = geometry.coordinates.map(unwrap);
        if (geometry?.type === "MultiPolygon") geometry.coordinates = geometry.coordinates.map((p) => p.map(unwrap));
      }
      return shapes;
    })
    .catch((error) => {
      outlines = null;
      throw error;
    });
  return outlines;
}

/** Adds the base map to `map`, as configured on `el`; resolves once it is drawn, or once the outlines could not be
 * had (never rejects: the map, its markers and clusters work without them). */
export async function addBaseMap(map, el) {
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 }).addTo(map);
    return;
  }
  el.classList.add("offline-map");
  // A pane of its own, where tiles would go: markers drawn before the outlines arrive stay on top of them.
  map.createPane("basemap").style.zIndex = 250;
  const layer = L.geoJSON(null, {
    pane: "basemap",
    renderer: L.svg({ pane: "basemap" }), // a few hundred shapes: SVG, whatever the map's markers use
    interactive: false,
    style: { color: "#64748b", weight: 1, fillColor: "#f1f5f9", fillOpacity: 1 },
  }).addTo(map);
  try {
    layer.addData(await countries(el.closest("[data-outlines]").dataset.outlines));
  } catch (error) {
    console.warn("map drawn without country outlines:", error);
  }
}
