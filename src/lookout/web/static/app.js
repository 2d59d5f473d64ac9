/* Lookout UI: sign-in and live updates over the platform's own WebSocket (no other address). */
(function () {
  'use strict';
  var L10N = (window.LOOKOUT && window.LOOKOUT.i18n) || {};
  function tr(key) { return L10N[key] || key; }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function fmtNum(n) { return (n === null || n === undefined || isNaN(n)) ? '—' : Number(n).toLocaleString('en-US'); }
  function fmtPct(v) { return (v === null || v === undefined || !isFinite(v)) ? '—' : v.toFixed(1) + '%'; }
  function flash(el) { el.classList.remove('flash'); void el.offsetWidth; el.classList.add('flash'); }
  function setText(sel, text) {
    $all(sel).forEach(function (el) { if (el.textContent !== text) { el.textContent = text; flash(el); } });
  }

  // a call to the platform's API: its JSON answer, or an Error carrying the answer's detail
  function api(url, opts) {
    return fetch(url, Object.assign({credentials: 'same-origin'}, opts || {}))
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (res) {
        if (!res.ok) throw new Error(typeof res.body.detail === 'string' ? res.body.detail : 'error');
        return res.body;
      });
  }

  // ------------------------------------------------------------ sign-in
  var form = document.getElementById('login-form');
  if (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var err = document.getElementById('login-error');
      err.hidden = true;
      fetch('/api/v1/auth/login', {
        method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({username: form.username.value, password: form.password.value})
      }).then(function (r) {
        if (r.ok) { window.location.assign(form.dataset.next || '/overview'); return; }
        return r.json().catch(function () { return {}; }).then(function (body) {
          err.textContent = r.status === 401 ? err.dataset.msg : (body.detail || ('HTTP ' + r.status));
          err.hidden = false;
        });
      }).catch(function (e) { err.textContent = String(e); err.hidden = false; });
    });
  }

  // ------------------------------------------------------------ snapshots on demand (a dead camera costs nothing until asked)
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('[data-snap]');
    if (!b) return;
    var img = document.createElement('img');
    img.className = 'thumb';
    img.alt = '';
    img.src = b.dataset.snap + (b.dataset.snap.indexOf('?') < 0 ? '?' : '&') + 't=' + Date.now();
    b.replaceWith(img);
  });

  function jsonBody(method, body) {
    return {method: method, headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
  }

  // a button that calls the API, one call at a time: ``ready(button)`` (optional) may refuse the click
  // before anything is sent; ``run(button, state)`` answers a promise whose value true keeps the button
  // disabled; a failure is told in the state element beside it (class act-state), else in an alert
  function actOn(selector, run, ready) {
    document.addEventListener('click', function (ev) {
      var b = ev.target.closest && ev.target.closest(selector);
      if (!b || b.disabled || (ready && !ready(b))) return;
      var label = b.textContent, state = b.parentNode.querySelector('.act-state');
      b.disabled = true;
      if (b.dataset.busy) b.textContent = b.dataset.busy;
      Promise.resolve().then(function () { return run(b, state); })
        .then(function (keep) { b.dataset.state = 'done'; b.disabled = keep === true; },
              function (e) {
                var msg = String(e.message || e);
                b.dataset.state = 'failed';
                b.title = msg;
                b.disabled = false;
                if (state) { state.textContent = msg; state.className = 'small note-warn act-state'; } else window.alert(msg);
              })
        .then(function () { b.textContent = label; });
    });
  }

  function say(state, text, warn) {
    if (state) { state.textContent = text; state.className = 'small act-state' + (warn ? ' note-warn' : ''); }
  }

  // ------------------------------------------------------------ mark a camera's current view as its reference picture
  actOn('[data-mark-ref]', function (b) {
    var id = b.dataset.markRef, state = document.querySelector('[data-reference-state="' + id + '"]');
    var input = document.querySelector('[data-preset-for="' + id + '"]');
    var preset = input ? input.value.trim() : '';
    var thumbs = document.querySelector('[data-reference-thumbs="' + id + '"]');
    return api('/api/v1/health/channels/' + id + '/reference' + (preset ? '?preset=' + encodeURIComponent(preset) : ''),
               {method: 'PUT'})
      .then(function (body) {
        var refs = body.references || [], n = refs.length;
        var noFocus = (body.not_judged || []).indexOf('blur') >= 0;
        if (state) {
          state.textContent = n > 1 ? (b.dataset.presets || '{n}').replace('{n}', n) : b.dataset.done;
          state.className = '';
          if (noFocus) {  // a pale wall filling the view: focus is not judged against it
            state.textContent += ' · ' + b.dataset.noFocus;
            state.className = 'note-warn';
          }
        }
        if (thumbs) {  // the pictures just taken (a new query string: the browser may hold an older one)
          thumbs.textContent = '';
          refs.forEach(function (r) {
            var img = document.createElement('img');
            img.className = 'ref-thumb';
            img.alt = img.title = r.preset || thumbs.dataset.fixed || '';
            img.src = r.url + (r.url.indexOf('?') < 0 ? '?' : '&') + 't=' + Date.now();
            thumbs.appendChild(img);
          });
        }
        if (input) input.value = '';
      });
  });

  // ------------------------------------------------------------ turn a camera to one of its presets (GB/T 28181)
  function presetNumber(b) {
    var input = document.querySelector('[data-preset-number-for="' + b.dataset.callPreset + '"]');
    var n = input ? parseInt(input.value, 10) : NaN;
    return {input: input, n: n >= 1 && n <= 255 ? n : null};
  }

  actOn('[data-call-preset]', function (b, state) {
    var n = presetNumber(b).n;
    return api('/api/v1/gb28181/channels/' + b.dataset.callPreset + '/preset', jsonBody('POST', {action: 'call', number: n}))
      .then(function () { say(state, (b.dataset.done || '{n}').replace('{n}', n)); });
  }, function (b) {  // a number 1–255 first
    var p = presetNumber(b);
    if (p.n === null && p.input) p.input.focus();
    return p.n !== null;
  });

  // ------------------------------------------------------------ a camera's health page: patrol now, thresholds, closing orders
  // the last diagnosis's score of a fault against its threshold now (a fault it reported stays so)
  function showResult(box, f, limit) {
    var cell = box.querySelector('[data-result="' + f + '"]'), table = cell && cell.closest('table');
    if (!cell || cell.querySelector('.st-fault')) return;
    var scored = box.querySelector('[data-score="' + f + '"]');
    var score = scored && scored.dataset.value !== undefined ? parseFloat(scored.dataset.value) : NaN;
    var text = limit === null ? box.dataset.offLabel : isNaN(score) ? '' :
      score >= limit ? table.dataset.labelExplained : table.dataset.labelOk;
    cell.innerHTML = '';
    if (!text) { cell.textContent = '—'; return; }
    var span = document.createElement('span');
    span.className = 'muted';
    span.textContent = text;
    cell.appendChild(span);
  }

  // a site's or a camera's own thresholds: the box (data-thresholds-of: its API address) holds the
  // inputs, the effective values and the buttons
  // (a threshold of null: the fault is not judged there)
  function showThresholds(box, t) {  // the effective thresholds and the own ones, as the API answered them
    Object.keys(t.effective || {}).forEach(function (f) {
      var cell = box.querySelector('[data-effective="' + f + '"]');
      if (cell) cell.textContent = t.effective[f] === null ? box.dataset.offLabel : String(Math.round(t.effective[f]));
      var own = (t.thresholds || {})[f];
      var input = box.querySelector('[data-threshold="' + f + '"]');
      if (input) { input.value = typeof own === 'number' ? String(Math.round(own)) : ''; input.disabled = own === null; }
      var off = box.querySelector('[data-off="' + f + '"]');
      if (off) off.checked = own === null;
      showResult(box, f, t.effective[f]);
    });
    var clear = box.querySelector('[data-clear-thresholds]');
    if (clear) clear.disabled = Object.keys(t.thresholds || {}).length === 0;
  }

  actOn('[data-patrol-now]', function (b) {
    return api('/api/v1/health/channels/' + b.dataset.patrolNow + '/patrol', {method: 'POST'})
      .then(function () { window.location.reload(); return true; });
  });

  function ownThresholds(box) {
    var own = {};
    box.querySelectorAll('[data-threshold]').forEach(function (input) {
      var f = input.dataset.threshold, off = box.querySelector('[data-off="' + f + '"]');
      if (off && off.checked) own[f] = null;
      else if (input.value.trim() !== '') own[f] = Number(input.value);
    });
    return own;
  }

  document.addEventListener('change', function (e) {  // "not judged" ticked: its number does not apply
    var off = e.target.closest && e.target.closest('[data-off]');
    var box = off && off.closest('[data-thresholds-of]');
    var input = box && box.querySelector('[data-threshold="' + off.dataset.off + '"]');
    if (input) input.disabled = off.checked;
  });

  actOn('[data-save-thresholds]', function (b, state) {
    var box = b.closest('[data-thresholds-of]');
    return api(box.dataset.thresholdsOf, jsonBody('PUT', ownThresholds(box)))
      .then(function (t) { showThresholds(box, t); say(state, b.dataset.done); });
  });

  actOn('[data-clear-thresholds]', function (b, state) {
    var box = b.closest('[data-thresholds-of]');
    return api(box.dataset.thresholdsOf, {method: 'DELETE'})
      .then(function (t) { showThresholds(box, t); say(state, b.dataset.done); return true; });
  });

  // what a failed re-check saw, in the page's language (the stored note is the platform's record)
  function recheckSaw(b, d) {
    if (!d || !d.online) return b.dataset.noPicture;
    var score = d.scores ? d.scores[b.dataset.fault] : null;
    return b.dataset.still + (score === null || score === undefined ? '' : ' (' + Math.round(score) + ')');
  }

  // closing an order asks for a re-check patrol; its outcome is polled until known (at most two minutes)
  actOn('[data-close-order]', function (b, state) {
    var id = b.dataset.closeOrder, note = document.querySelector('[data-note-for="' + id + '"]');
    var status = document.querySelector('[data-order-status="' + id + '"]');
    var deadline = Date.now() + 120000;
    function poll() {
      return api('/api/v1/health/work-orders/' + id + '/recheck').then(function (r) {
        if (r.state === 'pending' && Date.now() < deadline) {
          return new Promise(function (ok) { setTimeout(ok, 1500); }).then(poll);
        }
        var failed = r.state === 'failed';
        say(state, r.state === 'passed' ? b.dataset.passed : failed ? b.dataset.failed + ' · ' + recheckSaw(b, r.diagnosis)
                                                                    : b.dataset.pending, failed);
        if (state) state.dataset.outcome = r.state;
        if (status) status.textContent = tr('wo.status.' + r.status);
        return !failed;  // a failed re-check reopens the order: it may be closed again
      });
    }
    return api('/api/v1/health/work-orders/' + id + '/close', jsonBody('POST', {note: note && note.value ? note.value : null}))
      .then(function () { say(state, b.dataset.pending); return poll(); });
  });

  // an escalated order taken in hand by someone told of it: the page then tells its story with that step
  actOn('[data-acknowledge-order]', function (b, state) {
    return api('/api/v1/health/work-orders/' + b.dataset.acknowledgeOrder + '/acknowledge', {method: 'POST'})
      .then(function () { say(state, b.dataset.done); window.location.reload(); return true; });
  });

  // an order handed to another engineer (转派): the page then tells its story with that step
  actOn('[data-reassign-order]', function (b, state) {
    var id = b.dataset.reassignOrder;
    var who = document.querySelector('[data-assignee-for="' + id + '"]');
    var note = document.querySelector('[data-assign-note-for="' + id + '"]');
    return api('/api/v1/health/work-orders/' + id + '/assign',
               jsonBody('POST', {assignee: who.value, note: note && note.value ? note.value : null}))
      .then(function () { window.location.reload(); return true; });
  });

  // ------------------------------------------------------------ live updates
  var handlers = [];
  window.LookoutEvents = { on: function (prefix, fn) { handlers.push([prefix, fn]); } };

  function sitePct(id, present, entered) {
    var row = document.querySelector('[data-site-row="' + id + '"]');
    if (!row) return null;
    var inst = parseFloat(row.dataset.instant), daily = parseFloat(row.dataset.daily), r = [];
    if (inst > 0 && present !== undefined) r.push(100 * present / inst);
    if (daily > 0 && entered !== undefined) r.push(100 * entered / daily);
    return r.length ? { max: Math.max.apply(null, r), instant: inst > 0 ? 100 * present / inst : null,
                        daily: daily > 0 ? 100 * entered / daily : null } : null;
  }

  function recomputeTotals() {
    var tbl = document.getElementById('site-table');
    if (!tbl) return;
    var sum = function (attr) { return $all('[' + attr + ']', tbl).reduce(function (a, el) {
      var v = parseInt(el.textContent.replace(/[^0-9-]/g, ''), 10); return a + (isNaN(v) ? 0 : v); }, 0); };
    setText('#kpi-present', fmtNum(sum('data-site-present')));
    setText('#kpi-today', fmtNum(sum('data-site-today')));
    setText('#kpi-warning', String($all('[data-site-level]', tbl).filter(function (el) {
      return !el.classList.contains('lv-none'); }).length));
  }

  function onOccupancy(id, d) {
    var present = d.present !== undefined ? d.present : (d.inside !== undefined ? d.inside : d.occupancy);
    var entered = d.entered_today !== undefined ? d.entered_today : d.today;
    if (present !== undefined && present !== null) setText('[data-site-present="' + id + '"]', fmtNum(present));
    if (entered !== undefined && entered !== null) setText('[data-site-today="' + id + '"]', fmtNum(entered));
    var p = sitePct(id, present, entered);
    if (p) {
      setText('[data-site-pct="' + id + '"]', fmtPct(p.max));
      if (p.instant !== null) {
        setText('[data-site-instant-pct="' + id + '"]', fmtPct(p.instant));
        $all('[data-site-gauge="' + id + '"]').forEach(function (g) { g.style.setProperty('--p', Math.min(100, p.instant)); });
      }
      if (p.daily !== null) {
        $all('[data-site-daily-bar="' + id + '"]').forEach(function (b) { b.style.width = Math.min(100, p.daily) + '%'; });
        setText('[data-site-daily-pct="' + id + '"]', fmtPct(p.daily));
      }
    }
    var zones = d.zones || {}, names = d.zone_names || {};
    Object.keys(zones).forEach(function (z) {
      var name = names[z] || z, key = id + ':' + name, n = zones[z];
      $all('[data-zone-count="' + key.replace(/"/g, '\\"') + '"]').forEach(function (el) {
        if (el.textContent !== fmtNum(n)) { el.textContent = fmtNum(n); flash(el); }
        var area = parseFloat(el.dataset.area), cap = parseFloat(el.dataset.capacity);
        if (area > 0) setText('[data-zone-density="' + key + '"]', (n / area).toFixed(2));
        if (cap > 0) setText('[data-zone-pct="' + key + '"]', fmtPct(100 * n / cap));
      });
    });
    if (d.ts) setText('[data-site-updated="' + id + '"]', new Date(typeof d.ts === 'number' ? d.ts * 1000 : d.ts).toLocaleTimeString('en-GB'));
    recomputeTotals();
  }

  function onLevel(id, d) {
    var level = d.level || 'none';
    $all('[data-site-level="' + id + '"]').forEach(function (el) {
      el.className = 'lv lv-' + level; el.textContent = tr('level.' + level); flash(el);
    });
    $all('tr[data-site-row="' + id + '"]').forEach(function (row) {
      row.className = row.className.replace(/\brow-\w+/g, '').trim() + ' row-' + level;
    });
    if (window.LookoutMaps && window.LookoutMaps.setLevel) window.LookoutMaps.setLevel(id, level);
    onOccupancy(id, d);
  }

  function onChannel(id, d) {
    var status = d.status || 'unknown';
    $all('[data-channel-status="' + id + '"]').forEach(function (el) {
      el.className = 'st st-' + status; el.textContent = tr('status.' + status); flash(el);
    });
    $all('[data-tile="' + id + '"]').forEach(function (t) {
      t.className = t.className.replace(/\bst-bg-\w+/g, '').trim() + ' st-bg-' + status;
    });
    if (window.LookoutMaps && window.LookoutMaps.setCamera) window.LookoutMaps.setCamera(id, status);
  }

  var refreshTimers = {};
  function refreshContainers(topic) {
    $all('[data-refresh-on]').forEach(function (box) {
      if (topic.indexOf(box.dataset.refreshOn) !== 0 || !box.id) return;
      clearTimeout(refreshTimers[box.id]);
      refreshTimers[box.id] = setTimeout(function () {
        fetch(window.location.href, {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (!html) return;
            var doc = new DOMParser().parseFromString(html, 'text/html');
            var fresh = doc.getElementById(box.id);
            if (fresh) { box.innerHTML = fresh.innerHTML; flash(box); }
          }).catch(function () {});
      }, 400);
    });
  }

  function dispatch(ev) {
    var parts = (ev.topic || '').split('.'), d = ev.data || {};
    if (parts[0] === 'site' && parts.length >= 3) {
      if (parts[2] === 'level') onLevel(parts[1], d);
      else if (parts[2] === 'occupancy' || parts[2] === 'counts') onOccupancy(parts[1], d);
    } else if (parts[0] === 'channel' && parts[2] === 'status') {
      onChannel(parts[1], d);
    }
    handlers.forEach(function (h) { if (ev.topic.indexOf(h[0]) === 0) { try { h[1](ev); } catch (e) { /* keep the stream */ } } });
    if (parts[0] === 'site' && (parts[2] === 'level' || parts[2] === 'alert' || parts[2] === 'incident')) refreshContainers(ev.topic);
  }

  var state = document.getElementById('live-state');
  function setLive(on) {
    document.body.dataset.live = on ? 'on' : 'off';
    if (state) state.textContent = tr(on ? 'live.on' : 'live.off');
  }

  var backoff = 1000;
  function connect() {
    if (!window.LOOKOUT || !window.LOOKOUT.signedIn || !('WebSocket' in window)) return;
    var proto = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    var ws = new WebSocket(proto + window.location.host + '/api/v1/ws?topics=site.,channel.');
    ws.onopen = function () { backoff = 1000; setLive(true); };
    ws.onmessage = function (m) { try { dispatch(JSON.parse(m.data)); } catch (e) { /* a malformed event is skipped */ } };
    ws.onclose = function (e) {
      setLive(false);
      if (e.code === 4401) return;  // signed out
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 15000);
    };
    ws.onerror = function () { /* onclose follows */ };
  }
  connect();
})();
