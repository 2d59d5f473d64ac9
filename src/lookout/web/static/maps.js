/* Maps without tiles: the district as site markers (and GeoJSON boundaries when provided),
   a site plan in pixel coordinates (Leaflet CRS.Simple) with zones and cameras. */
(function () {
  'use strict';
  var LEVEL = { none: '#2e7d32', yellow: '#f9a825', orange: '#ef6c00', red: '#c62828' };
  var STATUS = { online: '#43a047', offline: '#9e9e9e', fault: '#e53935', unknown: '#78909c' };
  var siteMarkers = {}, cameraMarkers = {};

  function district(el, sites) {
    if (!el || !window.L) return null;
    var map = L.map(el, { zoomControl: true, attributionControl: false, preferCanvas: true });
    var pts = [];
    sites.forEach(function (s) {
      if (s.boundary && s.boundary.type) {
        L.geoJSON(s.boundary, { style: { color: LEVEL[s.level] || LEVEL.none, weight: 1, fillOpacity: 0.08 } }).addTo(map);
      }
      if (s.lat === null || s.lon === null || s.lat === undefined || s.lon === undefined) return;
      var ll = [s.lat, s.lon];
      pts.push(ll);
      var m = L.circleMarker(ll, { radius: 9, color: '#fff', weight: 1.5, fillColor: LEVEL[s.level] || LEVEL.none, fillOpacity: 0.95 })
        .addTo(map).bindTooltip(s.name, { permanent: sites.length <= 30, direction: 'right', className: 'marker-label' });
      m.on('click', function () { window.location.assign('/sites/' + s.id); });
      siteMarkers[String(s.id)] = m;
    });
    if (pts.length === 1) map.setView(pts[0], 13);
    else if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.15));
    else map.setView([29.5, 107.7], 9);
    var url = el.dataset.boundary;
    if (url) {
      fetch(url, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; }).then(function (gj) {
        if (gj && gj.features && gj.features.length) {
          var layer = L.geoJSON(gj, { style: { color: '#4fc3f7', weight: 2, fillOpacity: 0.03 } }).addTo(map);
          layer.bringToBack();
          if (!pts.length) map.fitBounds(layer.getBounds());
        }
      }).catch(function () {});
    }
    return map;
  }

  function toLL(p) { return [-p[1], p[0]]; }  // plan pixels (x right, y down) -> CRS.Simple

  function plan(el, data) {
    if (!el || !window.L) return null;
    var map = L.map(el, { crs: L.CRS.Simple, minZoom: -3, maxZoom: 3, attributionControl: false, zoomSnap: 0.25 });
    var pts = [];
    (data.zones || []).forEach(function (z) {
      (z.polygon || []).forEach(function (p) { pts.push(p); });
    });
    (data.cameras || []).forEach(function (c) { pts.push([c.x, c.y]); });
    function draw(bounds) {
      (data.zones || []).forEach(function (z) {
        var pct = z.capacity && z.count !== null && z.count !== undefined ? 100 * z.count / z.capacity : null;
        var colour = pct === null ? '#4fc3f7' : pct >= 95 ? LEVEL.red : pct >= 90 ? LEVEL.orange : pct >= 80 ? LEVEL.yellow : LEVEL.none;
        L.polygon(z.polygon.map(toLL), { color: colour, weight: 2, fillOpacity: 0.18 }).addTo(map)
          .bindTooltip(z.name + (z.count !== null && z.count !== undefined ? ' · ' + z.count : ''), { permanent: true, direction: 'center', className: 'marker-label' });
      });
      (data.cameras || []).forEach(function (c) {
        var m = L.circleMarker(toLL([c.x, c.y]), { radius: 7, color: '#fff', weight: 1, fillColor: STATUS[c.status] || STATUS.unknown, fillOpacity: 1 })
          .addTo(map).bindTooltip(c.name);
        cameraMarkers[String(c.id)] = m;
      });
      map.fitBounds(bounds.pad(0.05));
    }
    if (data.image) {
      var img = new Image();
      img.onload = function () {
        var b = L.latLngBounds([[-img.naturalHeight, 0], [0, img.naturalWidth]]);
        L.imageOverlay(data.image, b).addTo(map);
        draw(b);
      };
      img.src = data.image;
    } else if (pts.length) {
      var xs = pts.map(function (p) { return p[0]; }), ys = pts.map(function (p) { return p[1]; });
      var pad = 60, x0 = Math.min.apply(null, xs) - pad, x1 = Math.max.apply(null, xs) + pad;
      var y0 = Math.min.apply(null, ys) - pad, y1 = Math.max.apply(null, ys) + pad;
      var b = L.latLngBounds([toLL([x0, y1]), toLL([x1, y0])]);
      L.rectangle(b, { color: '#24405f', weight: 1, fillColor: '#0a1826', fillOpacity: 1 }).addTo(map);
      draw(b);
    } else {
      map.setView([0, 0], 0);
    }
    return map;
  }

  function setLevel(id, level) {
    var m = siteMarkers[String(id)];
    if (m) m.setStyle({ fillColor: LEVEL[level] || LEVEL.none });
  }
  function setCamera(id, status) {
    var m = cameraMarkers[String(id)];
    if (m) m.setStyle({ fillColor: STATUS[status] || STATUS.unknown });
  }
  window.LookoutMaps = { district: district, plan: plan, setLevel: setLevel, setCamera: setCamera };
})();
