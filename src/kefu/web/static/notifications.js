/* kefu notification bell — plain JavaScript, no dependencies.
 *
 * Fills #notify-count with the unread count (GET /api/v1/notifications/unread-count) and
 * shows a small toast when a {"type": "notification", id, kind, title, body, link} frame
 * arrives on the agent socket (/ws/agent). On the workspace page app.js already holds that
 * socket: there this script listens for the frames app.js re-dispatches as a
 * "kefu:frame" DOM event; on every other page it opens its own socket.
 */
(function () {
  'use strict';

  var bell = document.getElementById('notify-bell');
  var countEl = document.getElementById('notify-count');
  if (!bell || !countEl || window.kefuNotifications) return; // once per page
  window.kefuNotifications = true;
  var lang = (document.documentElement.lang || 'zh-CN').toLowerCase();
  var unread = 0;

  /* Domain texts are bilingual "中文 / English": show the page's half. */
  function localize(text) {
    var parts = String(text || '').split(' / ');
    if (parts.length !== 2 || !parts[0].trim() || !parts[1].trim()) return String(text || '');
    return lang.indexOf('en') === 0 ? parts[1].trim() : parts[0].trim();
  }

  function render() {
    if (unread > 0) {
      countEl.textContent = unread > 99 ? '99+' : String(unread);
      countEl.hidden = false;
    } else {
      countEl.textContent = '';
      countEl.hidden = true;
    }
    bell.setAttribute('data-unread', String(unread));
  }

  function refresh() {
    fetch('/api/v1/notifications/unread-count', { credentials: 'same-origin',
                                                   headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && typeof d.unread === 'number') { unread = d.unread; render(); } })
      .catch(function () { /* offline: keep the last count */ });
  }

  // -- toasts -------------------------------------------------------------------------------
  var box = null;
  function toastBox() {
    if (box) return box;
    box = document.createElement('div');
    box.className = 'nt-toasts';
    box.id = 'nt-toasts';
    box.setAttribute('role', 'status');
    box.setAttribute('aria-live', 'polite');
    document.body.appendChild(box);
    return box;
  }

  function toast(f) {
    var el = document.createElement(f.link ? 'a' : 'div');
    el.className = 'nt-toast';
    el.setAttribute('data-kind', String(f.kind || ''));
    if (f.link && /^\/app(\/|$|\?)/.test(f.link)) el.href = f.link;
    var title = document.createElement('strong');
    title.textContent = localize(f.title);
    el.appendChild(title);
    if (f.body) {
      var body = document.createElement('span');
      body.textContent = String(f.body).split('\n')[0].slice(0, 140);
      el.appendChild(body);
    }
    var holder = toastBox();
    holder.appendChild(el);
    while (holder.children.length > 4) holder.removeChild(holder.firstChild);
    setTimeout(function () { el.classList.add('nt-leaving'); }, 7000);
    setTimeout(function () { if (el.parentNode) el.parentNode.removeChild(el); }, 7600);
  }

  function onFrame(f) {
    if (!f || f.type !== 'notification') return;
    unread += 1;
    render();
    toast(f);
  }

  document.addEventListener('kefu:frame', function (ev) { onFrame(ev.detail); });

  // -- our own socket where app.js has none ---------------------------------------------------
  var attempts = 0;
  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent';
    var ws;
    try { ws = new WebSocket(url); } catch (e) { retry(); return; }
    var ping = null;
    ws.onopen = function () {
      attempts = 0;
      refresh(); // anything that came while we were away
      ping = setInterval(function () {
        try { ws.send('{"type":"ping"}'); } catch (e) { /* closing */ }
      }, 25000);
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = function (ev) {
      clearInterval(ping);
      if (ev.code === 4401 || ev.code === 4403) return; // logged out / refused: stop
      retry();
    };
  }
  function retry() {
    attempts += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(attempts - 1, 5)));
    setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  render();
  refresh();
  // the workspace and ticket pages hold an agent socket already and re-dispatch its frames
  var page = document.body.getAttribute('data-page');
  var ownSocket = !(page === 'workspace' || (page === 'tickets' &&
    (document.getElementById('tk-list') || document.getElementById('tk-empty') ||
     document.querySelector('#tk-header[data-ticket-id]'))));
  if (ownSocket && 'WebSocket' in window) connect();
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
})();
