/* kefu ticket pages (list, new ticket, one ticket) — plain JavaScript, no dependencies.
 *
 * Everything works without this script (forms post to the server); it adds: live updates
 * from /ws/agent (a "refresh" banner and marked rows), due times that count down, "more"
 * rows loaded in place, attachment uploads to /api/v1/ticket-files, the reply-mode toggle,
 * a confirmation before a merge and filters that apply on change.
 */
(function () {
  'use strict';

  var bootEl = document.getElementById('tk-boot');
  var BOOT = {};
  try { BOOT = JSON.parse((bootEl && bootEl.textContent) || '{}'); } catch (e) { BOOT = {}; }
  var S = BOOT.strings || {};
  var LOCALE = BOOT.locale || document.documentElement.lang || 'zh-CN';
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute('content') || '' : '';
  // the server's clock when the page was made, against the browser's: due times use it
  var SKEW = BOOT.now ? Date.parse(BOOT.now) - Date.now() : 0;

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(S, key) ? S[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m;
      });
    }
    return text;
  }

  function localize(message) {
    if (typeof message !== 'string') return '';
    var parts = message.split(' / ');
    if (parts.length !== 2) return message;
    return (LOCALE === 'en' ? parts[1] : parts[0]).trim();
  }

  function now() { return Date.now() + SKEW; }

  // -- durations (the same words as the server's tickets.dur.*) ----------------------------

  function span(ms) {
    var minutes = Math.max(1, Math.floor(Math.abs(ms) / 60000));
    if (minutes < 60) return t('tickets.dur.min', { n: minutes });
    var hours = Math.floor(minutes / 60);
    var mins = minutes % 60;
    if (hours < 24) {
      return mins ? t('tickets.dur.h_min', { h: hours, m: mins }) : t('tickets.dur.h', { h: hours });
    }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return hours ? t('tickets.dur.d_h', { d: days, h: hours }) : t('tickets.dur.d', { d: days });
  }

  function refreshTimes() {
    var dues = document.querySelectorAll('.tk-due[data-due]');
    Array.prototype.forEach.call(dues, function (el) {
      var iso = el.getAttribute('data-due');
      if (!iso) return;
      var at = Date.parse(iso);
      if (isNaN(at)) return;
      var left = at - now();
      var rel = el.querySelector('.tk-due-rel');
      var cls = el.getAttribute('data-cls') || 'ok';
      if (left < 0) {
        cls = 'breached';
        if (rel) rel.textContent = t('tickets.due.overdue', { d: span(left) });
      } else if (rel) {
        rel.textContent = t('tickets.due.in', { d: span(left) });
      }
      el.className = 'tk-due tk-due-' + cls;
    });
    var agos = document.querySelectorAll('[data-ago]');
    Array.prototype.forEach.call(agos, function (el) {
      var at = Date.parse(el.getAttribute('data-ago') || '');
      if (isNaN(at)) return;
      var ms = now() - at;
      el.textContent = ms < 60000 ? t('tickets.just_now') : t('tickets.ago', { d: span(ms) });
    });
  }

  // -- live updates --------------------------------------------------------------------------

  var page = document.body.getAttribute('data-page');
  var header = document.getElementById('tk-header');
  var currentId = header ? header.getAttribute('data-ticket-id') : null;
  var banner = document.getElementById('tk-live-banner');

  function showBanner() { if (banner) banner.hidden = false; }

  function onFrame(f) {
    if (!f || typeof f.type !== 'string' || f.type.indexOf('ticket.') !== 0) return;
    if (currentId) {
      if (f.ticket_id === currentId) showBanner();
      return;
    }
    var row = f.ticket_id ? document.querySelector('tr[data-ticket-id="' + f.ticket_id + '"]') : null;
    if (row) row.classList.add('tk-row-updated');
    if (document.getElementById('tk-list') || document.getElementById('tk-empty')) showBanner();
  }

  var ws = null;
  var attempts = 0;
  var pingTimer = null;

  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent';
    try { ws = new WebSocket(url); } catch (e) { retry(); return; }
    ws.onopen = function () {
      attempts = 0;
      document.body.setAttribute('data-live', 'online');
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (ws && ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
      }, 25000);
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      // the notification bell listens to this page's socket (it opens none of its own here)
      try { document.dispatchEvent(new CustomEvent('kefu:frame', { detail: frame })); } catch (e) { /* old browser */ }
      onFrame(frame);
    };
    ws.onclose = function (ev) {
      clearInterval(pingTimer);
      document.body.setAttribute('data-live', 'offline');
      ws = null;
      if (ev.code === 4401) return;
      // missed frames while away: offer a refresh once back
      if (attempts > 0) showBanner();
      retry();
    };
  }

  function retry() {
    attempts += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(attempts - 1, 5)));
    setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  // -- "more" rows ---------------------------------------------------------------------------

  function initMore() {
    var more = document.getElementById('tk-more');
    var body = document.getElementById('tk-rows');
    if (!more || !body) return;
    more.addEventListener('click', function (ev) {
      ev.preventDefault();
      var href = more.getAttribute('href');
      if (!href || more.getAttribute('aria-busy') === 'true') return;
      more.setAttribute('aria-busy', 'true');
      fetch(href + (href.indexOf('?') >= 0 ? '&' : '?') + 'partial=rows', { credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
        .then(function (html) {
          var tmp = document.createElement('tbody');
          tmp.innerHTML = html; // our own server-rendered, escaped rows
          var next = tmp.querySelector('tr.tk-more-row td[data-more-url]');
          Array.prototype.forEach.call(tmp.querySelectorAll('tr[data-ticket-id]'), function (tr) {
            if (!body.querySelector('tr[data-ticket-id="' + tr.getAttribute('data-ticket-id') + '"]')) body.appendChild(tr);
          });
          if (next) more.setAttribute('href', next.getAttribute('data-more-url'));
          else more.remove();
          more.removeAttribute('aria-busy');
          refreshTimes();
        })
        .catch(function () { more.removeAttribute('aria-busy'); location.href = href; });
    });
  }

  // -- uploads -------------------------------------------------------------------------------

  function fileItem(list, name, id, label) {
    var li = document.createElement('li');
    var input = document.createElement('input');
    input.type = 'hidden'; input.name = name; input.value = id;
    var text = document.createElement('span');
    text.textContent = '📎 ' + label;
    var rm = document.createElement('button');
    rm.type = 'button'; rm.className = 'tk-x'; rm.textContent = '×';
    rm.setAttribute('aria-label', t('tickets.upload.remove') + ' ' + label);
    rm.addEventListener('click', function () { li.remove(); });
    li.appendChild(input); li.appendChild(text); li.appendChild(rm);
    list.appendChild(li);
  }

  function upload(input) {
    var name = input.getAttribute('data-upload');
    var box = input.closest('.tk-attach');
    var list = box ? box.querySelector('.tk-files') : null;
    var state = box ? box.querySelector('.tk-upload-state') : null;
    if (!list) return;
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) return;
    var pending = files.length;
    if (state) state.textContent = t('tickets.upload.uploading');
    var form = input.closest('form');
    var submit = form ? form.querySelector('button[type=submit]') : null;
    if (submit) submit.disabled = true;
    files.forEach(function (file) {
      var data = new FormData();
      data.append('file', file, file.name);
      fetch('/api/v1/ticket-files', { method: 'POST', body: data, credentials: 'same-origin',
                                      headers: { 'X-CSRF-Token': CSRF } })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            if (!r.ok) throw new Error(localize((body.error && body.error.message) || String(r.status)));
            return body;
          });
        })
        .then(function (body) {
          var f = body.file || body;
          fileItem(list, name, f.id, f.name || file.name);
          if (state) state.textContent = '';
        })
        .catch(function (err) {
          if (state) state.textContent = t('tickets.upload.failed', { reason: err.message });
        })
        .then(function () {
          pending -= 1;
          if (pending === 0) { input.value = ''; if (submit) submit.disabled = false; }
        });
    });
  }

  function initUploads() {
    Array.prototype.forEach.call(document.querySelectorAll('input[type=file][data-upload]'), function (input) {
      input.addEventListener('change', function () { upload(input); });
    });
  }

  // -- the reply box -------------------------------------------------------------------------

  function initComposer() {
    var form = document.getElementById('tk-reply-form');
    if (!form) return;
    var send = document.getElementById('tk-send');
    function sync() {
      var note = form.querySelector('input[name=mode][value=note]');
      var mode = note && note.checked ? 'note' : 'reply';
      form.setAttribute('data-mode', mode);
      if (send) send.textContent = send.getAttribute(mode === 'note' ? 'data-label-note' : 'data-label-reply');
    }
    Array.prototype.forEach.call(form.querySelectorAll('input[name=mode]'), function (r) {
      r.addEventListener('change', sync);
    });
    var body = document.getElementById('tk-body');
    if (body) {
      body.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
      });
    }
    form.addEventListener('submit', function () { if (send) send.disabled = true; });
    sync();
  }

  function initConfirms() {
    Array.prototype.forEach.call(document.querySelectorAll('form[data-confirm]'), function (form) {
      form.addEventListener('submit', function (ev) {
        if (!window.confirm(form.getAttribute('data-confirm'))) ev.preventDefault();
      });
    });
  }

  function initFilters() {
    var form = document.getElementById('tk-filters');
    if (!form) return;
    Array.prototype.forEach.call(form.querySelectorAll('select'), function (sel) {
      sel.addEventListener('change', function () { form.requestSubmit(); });
    });
  }

  if (page !== 'tickets') return;
  initMore();
  initUploads();
  initComposer();
  initConfirms();
  initFilters();
  refreshTimes();
  setInterval(refreshTimes, 30000);
  if (document.getElementById('tk-list') || document.getElementById('tk-empty') || currentId) connect();
})();
