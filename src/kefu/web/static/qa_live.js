/* kefu — the live quality-alert wallboard (/app/qa/live). Plain JavaScript, no dependencies.
 *
 * Loads recent alerts over HTTP (GET /api/v1/qa/alerts), then listens on the agent WebSocket
 * (/ws/agent: users with qa.alerts also get the supervisors' frames) for "qa.alert" (a new
 * alert: shown at the top) and "qa.alert_ack" (someone acknowledged one). On every (re)connect
 * the list is reloaded, so nothing is missed while the socket was down.
 */
(function () {
  'use strict';

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) return {};
    try { return JSON.parse(el.textContent || '{}'); } catch (e) { return {}; }
  }

  var BOOT = readJSON('boot');
  var LOCALE = BOOT.locale || document.documentElement.lang || 'zh-CN';
  var STRINGS = BOOT.strings || {};
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute('content') || '' : '';

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
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

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function api(method, path) {
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = CSRF;
    return fetch(path, { method: method, headers: headers, credentials: 'same-origin' })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (data) {
          if (!res.ok) {
            var err = (data && data.error) || {};
            if (res.status === 401) location.href = '/app/login?next=' + encodeURIComponent(location.pathname);
            throw new Error(localize(err.message) || ('HTTP ' + res.status));
          }
          return data;
        });
      });
  }

  var fmt = new Intl.DateTimeFormat(LOCALE, { month: 'short', day: 'numeric', hour: '2-digit',
    minute: '2-digit', second: '2-digit', hour12: false });

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : fmt.format(d);
  }

  /* The excerpt with every hit span wrapped in <mark> (spans merged, text never parsed as HTML). */
  function highlighted(excerpt, spans) {
    var box = h('div', { class: 'qa-alert-text' });
    // the server counts code points, JavaScript strings count UTF-16 units: work on an array
    // of code points so an emoji before a hit does not shift the mark
    var text = Array.from(excerpt || '');
    var sorted = (spans || []).filter(function (s) {
      return Array.isArray(s) && s.length === 2 && s[0] < s[1];
    }).map(function (s) { return [Math.max(0, s[0]), Math.min(text.length, s[1])]; })
      .sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var merged = [];
    sorted.forEach(function (s) {
      var last = merged[merged.length - 1];
      if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
      else merged.push([s[0], s[1]]);
    });
    var at = 0;
    merged.forEach(function (s) {
      if (s[0] > at) box.appendChild(document.createTextNode(text.slice(at, s[0]).join('')));
      box.appendChild(h('mark', null, text.slice(s[0], s[1]).join('')));
      at = s[1];
    });
    if (at < text.length) box.appendChild(document.createTextNode(text.slice(at).join('')));
    return box;
  }

  var S = { byId: {}, arrived: null, open: 0, cursor: null, ws: null, attempts: 0, timer: null, ping: null };
  var els = { list: $('qa-alerts'), state: $('qa-state'), counter: $('qa-counter'),
              more: $('qa-more'), conn: $('qa-conn'), onlyOpen: $('qa-only-open') };

  function setCounter(n) {
    S.open = Math.max(0, n);
    els.counter.dataset.count = String(S.open);
    els.counter.textContent = t('qa_live.counter', { n: S.open });
    document.title = (S.open ? '(' + S.open + ') ' : '') + t('qa_live.title') + ' · kefu';
  }

  function setConn(state) {
    els.conn.dataset.state = state;
    els.conn.textContent = t('qa_live.conn.' + state);
  }

  function alertEl(a, fresh) {
    var reason = a.reason || 'alert';
    var sender = t('qa_live.sender.' + a.sender_type);
    var ack = h('button', { type: 'button', class: 'btn btn-sm qa-ack', dataset: { ack: a.id } },
      a.acknowledged_at ? t('qa_live.acked') : t('qa_live.ack'));
    if (a.acknowledged_at) ack.disabled = true;
    var li = h('li', {
      class: 'qa-alert' + (fresh ? ' qa-alert-new' : ''),
      dataset: { id: a.id, reason: reason, conversationId: a.conversation_id, rule: a.rule_key },
      'data-acked': a.acknowledged_at ? true : null
    },
      h('div', { class: 'qa-alert-head' },
        fresh ? h('span', { class: 'badge' }, t('qa_live.new')) : null,
        h('span', { class: 'qa-alert-rule' }, a.rule_name || a.rule_key),
        h('span', { class: 'qa-reason', dataset: { reason: reason } }, t('qa_live.reason.' + reason)),
        h('span', { class: 'qa-alert-who' },
          t('qa_live.customer', { name: a.contact_name || '—' }) + ' · ' +
          t('qa_live.agent', { name: a.agent_name || t('qa_live.unassigned') }) + ' · ' + sender)),
      highlighted(a.excerpt || '', a.spans),
      a.note ? h('div', { class: 'qa-alert-note' }, t('qa_live.note', { note: a.note })) : null,
      h('div', { class: 'qa-alert-actions' },
        h('time', { class: 'qa-alert-time', datetime: a.created_at }, when(a.created_at)),
        h('a', { class: 'qa-open', href: '/app#c=' + encodeURIComponent(a.conversation_id) },
          t('qa_live.open')),
        ack));
    return li;
  }

  function showState() {
    els.state.textContent = els.list.children.length ? '' : t('qa_live.empty');
  }

  function add(a, fresh) {
    if (!a || !a.id) return;
    if (els.onlyOpen.checked && a.acknowledged_at) return;
    var old = S.byId[a.id];
    var el = alertEl(a, fresh);
    S.byId[a.id] = el;
    if (old && old.parentNode) old.parentNode.replaceChild(el, old);
    else if (fresh) els.list.insertBefore(el, els.list.firstChild);
    else els.list.appendChild(el);
  }

  function query(cursor) {
    var q = '/api/v1/qa/alerts?limit=50';
    if (els.onlyOpen.checked) q += '&unacknowledged=true';
    if (cursor) q += '&cursor=' + encodeURIComponent(cursor);
    return q;
  }

  function load() {
    var live = S.arrived = [];  // frames that arrive while the list loads are kept
    return api('GET', query(null)).then(function (page) {
      S.byId = {};
      while (els.list.firstChild) els.list.removeChild(els.list.firstChild);
      (page.items || []).forEach(function (a) { add(a, false); });
      live.forEach(function (a) { if (!S.byId[a.id]) add(a, true); });
      if (S.arrived === live) S.arrived = null;
      S.cursor = page.next_cursor;
      els.more.hidden = !S.cursor;
      setCounter(page.unacknowledged || 0);
      showState();
    }, function (e) { els.state.textContent = t('qa_live.load_failed', { reason: e.message }); });
  }

  els.more.addEventListener('click', function () {
    if (!S.cursor) return;
    els.more.disabled = true;
    api('GET', query(S.cursor)).then(function (page) {
      (page.items || []).forEach(function (a) { if (!S.byId[a.id]) add(a, false); });
      S.cursor = page.next_cursor;
      els.more.hidden = !S.cursor;
    }, function (e) { els.state.textContent = t('qa_live.load_failed', { reason: e.message }); })
      .then(function () { els.more.disabled = false; });
  });

  els.onlyOpen.addEventListener('change', load);

  function markAcked(id, at) {
    var el = S.byId[id];
    if (!el || el.hasAttribute('data-acked')) return false;
    el.setAttribute('data-acked', '');
    el.dataset.ackedAt = at || '';
    var btn = el.querySelector('[data-ack]');
    if (btn) { btn.disabled = true; btn.textContent = t('qa_live.acked'); }
    return true;
  }

  els.list.addEventListener('click', function (ev) {
    var btn = ev.target.closest('[data-ack]');
    if (!btn || btn.disabled) return;
    btn.disabled = true;
    var id = btn.dataset.ack;
    api('POST', '/api/v1/qa/alerts/' + encodeURIComponent(id) + '/ack').then(function (a) {
      if (markAcked(id, a.acknowledged_at)) setCounter(S.open - 1);
    }, function (e) {
      btn.disabled = false;
      els.state.textContent = t('qa_live.ack_failed', { reason: e.message });
    });
  });

  function onFrame(f) {
    if (!f || typeof f.type !== 'string') return;
    if (f.type === 'qa.alert') {
      if (S.arrived) S.arrived.push(f);
      if (S.byId[f.id]) return;
      add(f, true);
      if (!f.acknowledged_at) setCounter(S.open + 1);
      showState();
    } else if (f.type === 'qa.alert_ack') {
      if (markAcked(f.id, f.acknowledged_at)) setCounter(S.open - 1);
    }
  }

  function connect() {
    clearTimeout(S.timer);
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent';
    var ws;
    try { ws = new WebSocket(url); } catch (e) { reconnect(); return; }
    S.ws = ws;
    setConn(S.attempts ? 'reconnecting' : 'connecting');
    ws.onopen = function () {
      S.attempts = 0;
      setConn('online');
      clearInterval(S.ping);
      S.ping = setInterval(function () {
        if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
      }, 25000);
      load();  // subscribed now: what arrived before is in the list
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(frame);
    };
    ws.onclose = function (ev) {
      clearInterval(S.ping);
      if (S.ws !== ws) return;
      S.ws = null;
      if (ev.code === 4401) { setConn('offline'); location.href = '/app/login'; return; }
      reconnect();
    };
  }

  function reconnect() {
    S.attempts += 1;
    setConn('reconnecting');
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(S.attempts - 1, 5)));
    S.timer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  if (document.body.getAttribute('data-page') === 'qa-live') connect();
})();
