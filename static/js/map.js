// Map of every GPS position in a job, in clusters, on the base map (basemap.js: offline outlines unless the lab
// names its own tile server).
import { addBaseMap } from "./basemap.js";

const el = document.getElementById("job-map");
const count = document.getElementById("map-count");
// Clustering needs the map's deepest zoom; no tile layer gives it offline.
const map = L.map(el, { preferCanvas: true, maxZoom: 19, attributionControl: Boolean(el.dataset.tiles) });
map.setView([20, 0], 2);
const base = addBaseMap(map, el);

function popup(id, path) {
  const box = document.createElement("div");
  box.className = "map-popup";
  const img = document.createElement("img");
  img.src = el.dataset.thumb.replace(/\/0\/thumb$/, `/${id}/thumb`);
  img.alt = path;
  const link = document.createElement("a");
  link.href = `${el.dataset.gallery}#image-${id}`;
  link.dir = "auto"; // a file name is the suspect's: its direction is its own
  link.textContent = path;
  box.append(img, link);
  return box;
}

const response = await fetch(el.dataset.points, { credentials: "same-origin" });
const { points, total } = await response.json();
const number = (n) => n.toLocaleString("en");
count.textContent = `${number(total)} images with a GPS position`;
// Past the server's cap only the first positions come: say so rather than pass them off as all of them.
if (total > points.length) count.textContent += `, showing the first ${number(points.length)}`;
if (points.length) {
  // Thousands of positions stay readable (and fast) as clusters that split as one zooms in.
  const clusters = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false });
  const bounds = [];
  for (const [id, lat, lon, path] of points) {
    clusters.addLayer(
      L.circleMarker([lat, lon], { radius: 6, color: "#1d4ed8", weight: 2, fillColor: "#3b82f6", fillOpacity: 0.8 })
        .bindPopup(() => popup(id, path)),
    );
    bounds.push([lat, lon]);
  }
  map.addLayer(clusters);
  map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15 });
}
await base;
el.dataset.ready = "1";
