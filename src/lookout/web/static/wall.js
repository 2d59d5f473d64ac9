/* Video wall: the video capability's live player per tile (fMP4 over WebSocket), or a
   snapshot a second where live video is off or the browser cannot play it. */
(function () {
  'use strict';
  var snaps = Array.prototype.slice.call(document.querySelectorAll('img.snap[data-snapshot]'));
  var videos = Array.prototype.slice.call(document.querySelectorAll('video[data-live-channel]'));
  var live = window.LookoutLive && window.LookoutLive.supported && window.LookoutLive.supported();
  videos.forEach(function (v) {
    var tile = v.closest('.tile');
    if (live) {
      window.LookoutLive.attach(v, window.LookoutLive.url(v.dataset.liveChannel, 'sub'), {
        onStatus: function (state) { if (tile) tile.dataset.liveState = state; }
      });
    } else if (v.dataset.snapshot) {
      var img = document.createElement('img');
      img.className = 'snap';
      img.dataset.snapshot = v.dataset.snapshot;
      v.replaceWith(img);
      snaps.push(img);
    }
  });
  function refresh() {
    snaps.forEach(function (img) {
      if (img.dataset.loading === '1') return;
      var next = new Image();
      img.dataset.loading = '1';
      next.onload = function () { img.src = next.src; img.dataset.loading = '0'; img.dataset.frames = String((+img.dataset.frames || 0) + 1); };
      next.onerror = function () { img.dataset.loading = '0'; };
      next.src = img.dataset.snapshot + (img.dataset.snapshot.indexOf('?') < 0 ? '?' : '&') + 't=' + Date.now();
    });
  }
  if (snaps.length) { refresh(); setInterval(refresh, 1000); }
})();
