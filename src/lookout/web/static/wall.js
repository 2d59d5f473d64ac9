/* Video wall: a live player where the video engine offers one, else a snapshot a second. */
(function () {
  'use strict';
  var snaps = Array.prototype.slice.call(document.querySelectorAll('img.snap[data-snapshot]'));
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
