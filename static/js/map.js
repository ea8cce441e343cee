// Map of every GPS position in a job. Without configured tiles the markers are drawn on a plain background.

const el = document.getElementById("job-map");
const count = document.getElementById("map-count");
const map = L.map(el, { preferCanvas: true, attributionControl: Boolean(el.dataset.tiles) }).setView([20, 0], 2);
if (el.dataset.tiles) L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 19 }).addTo(map);

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
  const bounds = [];
  for (const [id, lat, lon, path] of points) {
    L.circleMarker([lat, lon], { radius: 6, color: "#1d4ed8", weight: 2, fillColor: "#3b82f6", fillOpacity: 0.8 })
      .bindPopup(() => popup(id, path))
      .addTo(map);
    bounds.push([lat, lon]);
  }
  map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15 });
}
el.dataset.ready = "1";
