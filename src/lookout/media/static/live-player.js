/* Lookout live player: fragmented MP4 over WebSocket into MediaSource. No plugins, no CDN.
 *
 *   <video id="v" muted autoplay playsinline></video>
 *   <script src="/api/v1/media/player.js"></script>
 *   <script>LookoutLive.attach(document.getElementById("v"), LookoutLive.url(42, "sub"));</script>
 *
 * Protocol: a text frame {"type":"init","mime":...}, a binary init segment, then binary
 * moof+mdat fragments; {"type":"ended","reason":...} when the stream stops (the player
 * reconnects after a pause). The player keeps the delay to the live edge under maxLag.
 *
 * A stalled player starts afresh by itself (a tile of the video wall must not stay frozen):
 * nothing received for stallMs, the picture not moving for stallMs while it plays on a shown page,
 * or the browser's decoder refusing the data. It closes the connection and reconnects after
 * the same pause; stats.stalls counts them and stats.stalled says the last reason.
 */
(function (global) {
  "use strict";

  function apiBase() {
    var p = global.location.pathname;
    var i = p.indexOf("/media/");
    return i >= 0 ? p.slice(0, i) : "/api/v1";
  }

  function wsUrl(channelId, stream) {
    var proto = global.location.protocol === "https:" ? "wss:" : "ws:";
    var q = "?stream=" + encodeURIComponent(stream || "main");
    var token = new URLSearchParams(global.location.search).get("token");
    if (token) q += "&token=" + encodeURIComponent(token);
    return proto + "//" + global.location.host + apiBase() + "/channels/" + channelId + "/live" + q;
  }

  function Player(video, url, opts) {
    this.video = video;
    this.url = url;
    this.opts = opts || {};
    this.maxLag = this.opts.maxLag || 1.2;
    this.keepBehind = this.opts.keepBehind || 10;
    this.reconnectMs = this.opts.reconnectMs === undefined ? 2000 : this.opts.reconnectMs;
    this.stallMs = this.opts.stallMs === undefined ? 15000 : this.opts.stallMs;
    this.stats = { fragments: 0, bytes: 0, lag: 0, state: "idle", reason: null, seeks: 0, stalls: 0, stalled: null };
    this.closed = false;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    this._connect();
    var self = this;
    if (this.stallMs > 0) this._watch = setInterval(function () { self._check(); }, Math.min(1000, this.stallMs / 3));
  }

  Player.prototype._check = function () {
    var now = Date.now(), v = this.video, state = this.stats.state;
    if (this.closed || !this.ws || this.ws.readyState > 1) return; // closing: onclose reconnects
    if (global.document && global.document.hidden) { // a hidden page's video may rest
      this._lastData = this._lastMove = now;
      return;
    }
    if (v.paused || v.currentTime !== this._lastTime) { this._lastTime = v.currentTime; this._lastMove = now; }
    var why = null;
    if (state === "error") why = this.stats.reason || "decoder error";
    else if ((state === "connecting" || state === "playing") && now - this._lastData > this.stallMs) why = "nothing received";
    else if (state === "playing" && this.stats.fragments > 0 && now - this._lastMove > this.stallMs) {
      why = "picture stopped"; // a paused video (scrolled away, say) rests: only a playing one counts
    }
    if (!why) return;
    this.stats.stalls += 1;
    this.stats.stalled = why;
    this._status("stalled", why);
    this.ws.close();
  };

  Player.prototype._status = function (state, reason) {
    this.stats.state = state;
    this.stats.reason = reason || null;
    if (this.opts.onStatus) this.opts.onStatus(state, reason || "");
    this.video.dataset.liveState = state;
  };

  Player.prototype._connect = function () {
    var self = this;
    this.queue = [];
    this.sb = null;
    this._lastData = this._lastMove = Date.now();
    this._status("connecting");
    var ws = (this.ws = new WebSocket(this.url));
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (ev) {
      self._lastData = Date.now();
      if (typeof ev.data === "string") {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "init") self._open(msg.mime);
        else if (msg.type === "ended") self._status("ended", msg.reason);
        return;
      }
      self.stats.bytes += ev.data.byteLength;
      self.queue.push(ev.data);
      self._pump();
    };
    ws.onclose = function () {
      if (self.closed) return;
      if (self.stats.state !== "ended") self._status("disconnected");
      if (self.reconnectMs > 0) {
        self._timer = setTimeout(function () { self._teardown(); self._connect(); }, self.reconnectMs);
      }
    };
    ws.onerror = function () { /* onclose follows and handles it */ };
  };

  Player.prototype._open = function (mime) {
    var self = this;
    if (!global.MediaSource || !MediaSource.isTypeSupported(mime)) {
      this._status("unsupported", mime);
      this.ws.close();
      return;
    }
    var ms = (this.ms = new MediaSource());
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    ms.addEventListener("sourceopen", function () {
      if (self.ms !== ms) return;
      self.sb = ms.addSourceBuffer(mime);
      self.sb.mode = "segments";
      self.sb.addEventListener("updateend", function () { self._afterAppend(); });
      self.sb.addEventListener("error", function () { self._status("error", "decoder rejected data"); });
      self._status("playing");
      self._pump();
    }, { once: true });
  };

  Player.prototype._pump = function () {
    var sb = this.sb;
    if (!sb || sb.updating || !this.queue.length || this.ms.readyState !== "open") return;
    var chunk = this.queue.shift();
    try {
      sb.appendBuffer(chunk);
      this.stats.fragments += 1;
    } catch (e) {
      if (e && e.name === "QuotaExceededError") {
        this.queue.unshift(chunk);
        this._trim(true);
      } else {
        this._status("error", String(e && e.message));
      }
    }
  };

  Player.prototype._afterAppend = function () {
    var v = this.video, b = v.buffered;
    if (b.length) {
      var start = b.start(0), end = b.end(b.length - 1);
      if (v.currentTime < start || v.currentTime > end) {
        v.currentTime = Math.max(start, end - 0.3);
        this.stats.seeks += 1;
      }
      var lag = end - v.currentTime;
      this.stats.lag = lag;
      if (lag > this.maxLag) {
        v.currentTime = end - 0.3; // jump back to the live edge
        this.stats.seeks += 1;
      }
      v.playbackRate = lag > 0.6 ? 1.1 : 1.0;
      if (v.paused) {
        var p = v.play();
        if (p && p.catch) p.catch(function () {});
      }
    }
    if (!this._trim(false)) this._pump();
  };

  Player.prototype._trim = function (force) {
    var sb = this.sb, v = this.video;
    if (!sb || sb.updating || !v.buffered.length) return false;
    var start = v.buffered.start(0);
    var limit = v.currentTime - (force ? 2 : this.keepBehind);
    if (limit - start > (force ? 0.5 : 10)) {
      sb.remove(start, limit);
      return true;
    }
    return false;
  };

  Player.prototype._teardown = function () {
    if (this.ws) { this.ws.onclose = null; this.ws.onmessage = null; try { this.ws.close(); } catch (e) {} }
    if (this.objectUrl) { URL.revokeObjectURL(this.objectUrl); this.objectUrl = null; }
    this.ms = null;
    this.sb = null;
    this.queue = [];
  };

  Player.prototype.close = function () {
    this.closed = true;
    clearTimeout(this._timer);
    clearInterval(this._watch);
    this._teardown();
    this.video.removeAttribute("src");
    this.video.load();
    this._status("closed");
  };

  global.LookoutLive = {
    attach: function (video, url, opts) { return new Player(video, url, opts); },
    url: wsUrl,
    apiBase: apiBase,
    supported: function () {
      return !!(global.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"'));
    },
  };
})(window);
