/* Today's curve: cumulative visitors per local hour, with the forecast when there is one (uPlot). */
(function () {
  'use strict';
  function curve(el, data) {
    if (!el || !window.uPlot || !data) return null;
    var labels = {};
    try { labels = JSON.parse(el.dataset.labels || '{}'); } catch (e) { labels = {}; }
    var xs = data.hours.map(function (_, i) { return i; });
    var series = [{ label: labels.hour || '', value: function (u, v) { return v === null || v === undefined ? '' : (data.hours[v] || ''); } }, { label: labels.actual || 'actual', stroke: '#4fc3f7', width: 2, fill: 'rgba(79,195,247,0.12)', spanGaps: false }];
    var cols = [xs, data.actual];
    if (data.forecast) {
      series.push({ label: labels.forecast || 'forecast', stroke: '#ffb74d', width: 2, dash: [6, 4] });
      cols.push(data.forecast);
    }
    var axis = { stroke: '#8fa6bf', grid: { stroke: '#24405f', width: 1 }, ticks: { stroke: '#24405f' } };
    var opts = {
      width: Math.max(300, el.clientWidth), height: 260, series: series,
      scales: { x: { time: false } },
      axes: [Object.assign({}, axis, { values: function (u, vals) { return vals.map(function (v) { return data.hours[v] || ''; }); } }), axis]
    };
    var plot = new uPlot(opts, cols, el);
    window.addEventListener('resize', function () { plot.setSize({ width: Math.max(300, el.clientWidth), height: 260 }); });
    return plot;
  }
  window.LookoutCharts = { curve: curve };
})();
