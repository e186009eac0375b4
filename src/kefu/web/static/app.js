/* kefu agent workspace — plain JavaScript, no dependencies.
 *
 * Pages: the workspace (conversation list, conversation view, contact panel, live updates
 * over /ws/agent) and small helpers for the admin pages (confirmations, copy, reveal).
 * Every write to /api/v1 carries the session's CSRF token as X-CSRF-Token.
 */
(function () {
  'use strict';

  // -- basics -----------------------------------------------------------------------------

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) return {};
    try { return JSON.parse(el.textContent || '{}'); } catch (e) { return {}; }
  }

  var BOOT = readJSON('boot');
  var LOCALE = BOOT.locale || document.documentElement.lang || 'zh-CN';
  var STRINGS = BOOT.strings || {};
  // the quality-inspection strings of the composer (qa_live.ws.*), handed over separately
  var QA_STRINGS = readJSON('boot-qa');
  Object.keys(QA_STRINGS).forEach(function (k) { STRINGS[k] = QA_STRINGS[k]; });
  var metaCsrf = document.querySelector('meta[name="csrf-token"]');
  var CSRF = metaCsrf ? metaCsrf.getAttribute('content') || '' : '';

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m;
      });
    }
    return text;
  }

  function qaT(key, params) { return t('qa_live.ws.' + key, params); }

  /* Domain messages are bilingual: "中文 / English". Show the half of the page's language. */
  function localize(message) {
    if (typeof message !== 'string') return '';
    var parts = message.split(' / ');
    if (parts.length !== 2 || !parts[0].trim() || !parts[1].trim()) return message;
    return (LOCALE === 'en' ? parts[1] : parts[0]).trim();
  }

  function $(id) { return document.getElementById(id); }

  /* h('div', {class: 'x', dataset: {seq: 1}}, child, 'text') — text is never parsed as HTML. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  function toast(message, kind) {
    var box = $('toasts');
    if (!box) { return; }
    var el = h('div', { class: 'toast toast-' + (kind || 'error'), role: kind === 'ok' ? 'status' : 'alert' }, message);
    box.appendChild(el);
    setTimeout(function () { el.classList.add('toast-out'); }, 4200);
    setTimeout(function () { if (el.parentNode) el.parentNode.removeChild(el); }, 4700);
  }

  // -- REST ---------------------------------------------------------------------------------

  function ApiError(status, code, message, details) {
    this.status = status; this.code = code; this.message = message; this.details = details || {};
  }

  function api(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = CSRF;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, {
      method: method, headers: headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      var parse = res.status === 204 ? Promise.resolve(null) : res.json().catch(function () { return null; });
      return parse.then(function (data) {
        if (!res.ok) {
          var err = (data && data.error) || {};
          if (res.status === 401 && err.code === 'unauthenticated') {
            location.href = '/app/login?next=' + encodeURIComponent(location.pathname + location.hash);
          }
          throw new ApiError(res.status, err.code || ('http_' + res.status),
            localize(err.message) || t('err.generic'), err.details);
        }
        return { status: res.status, data: data, headers: res.headers };
      });
    }, function () {
      throw new ApiError(0, 'network', t('err.network'));
    });
  }

  // -- time ---------------------------------------------------------------------------------

  var fmtClock = new Intl.DateTimeFormat(LOCALE, { hour: '2-digit', minute: '2-digit', hour12: false });
  var fmtDay = new Intl.DateTimeFormat(LOCALE, { month: 'short', day: 'numeric' });
  var fmtFull = new Intl.DateTimeFormat(LOCALE, { year: 'numeric', month: 'short', day: 'numeric' });
  var fmtStamp = new Intl.DateTimeFormat(LOCALE, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false
  });

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function shortTime(iso) {
    if (!iso) return '';
    var d = new Date(iso), now = new Date();
    if (isNaN(d.getTime())) return '';
    if (sameDay(d, now)) return fmtClock.format(d);
    var y = new Date(now); y.setDate(now.getDate() - 1);
    if (sameDay(d, y)) return t('common.yesterday');
    if (d.getFullYear() === now.getFullYear()) return fmtDay.format(d);
    return fmtFull.format(d);
  }

  function dayLabel(d) {
    var now = new Date();
    if (sameDay(d, now)) return t('common.today');
    var y = new Date(now); y.setDate(now.getDate() - 1);
    if (sameDay(d, y)) return t('common.yesterday');
    return fmtFull.format(d);
  }

  function stamp(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : fmtStamp.format(d);
  }

  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return 'c' + Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  // -- admin pages --------------------------------------------------------------------------

  function initAdmin() {
    document.addEventListener('click', function (ev) {
      var btn = ev.target.closest ? ev.target.closest('[data-confirm]') : null;
      if (btn && !window.confirm(btn.getAttribute('data-confirm'))) ev.preventDefault();
    });
    document.querySelectorAll('[data-copy]').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var src = $(btn.getAttribute('data-copy'));
        if (!src) return;
        var text = src.dataset.secret || src.textContent || '';
        var done = function () {
          var old = btn.textContent;
          btn.textContent = t('common.copied');
          setTimeout(function () { btn.textContent = old; }, 1400);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(src); });
        } else {
          selectText(src);
          try { if (document.execCommand('copy')) done(); } catch (e) { /* selected for manual copy */ }
        }
      });
    });
    document.querySelectorAll('[data-reveal]').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var el = $(btn.getAttribute('data-reveal'));
        if (!el) return;
        var masked = el.dataset.masked === '1';
        el.textContent = masked ? el.dataset.secret : '••••••••••••••••';
        el.dataset.masked = masked ? '0' : '1';
        btn.textContent = btn.getAttribute(masked ? 'data-label-hide' : 'data-label-show');
      });
    });
    document.querySelectorAll('.swatch[data-color]').forEach(function (el) {
      var c = el.getAttribute('data-color');
      if (/^#[0-9a-fA-F]{6}$/.test(c)) el.style.backgroundColor = c;
    });
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // -- workspace ----------------------------------------------------------------------------

  var ACTIVE = ['bot', 'queued', 'open', 'pending'];
  var PAGE_SIZE = 50;

  function initWorkspace() {
    var me = BOOT.me || {};
    var perms = BOOT.perms || {};
    var S = {
      view: 'all', status: '', convs: {}, order: [], unread: {}, listToken: 0,
      currentId: null, current: null, msgs: {}, pending: {}, minSeq: null, maxSeq: 0, loaded: false,
      hasOlder: false, loadingOlder: false, convToken: 0, contactId: null,
      users: {}, assignable: [], mode: 'reply',
      ws: null, wsAttempts: 0, wsTimer: null, pingTimer: null,
      typingSentAt: 0, typingStop: null, customerTypingTimer: null, countsTimer: null
    };
    var els = {
      list: $('conv-list'), listState: $('list-state'), conv: $('conv'), empty: $('conv-empty'),
      name: $('conv-contact-name'), status: $('conv-status'), sub: $('conv-sub'),
      assign: $('assign-select'), priority: $('priority-select'), resolve: $('resolve-btn'),
      reopen: $('reopen-btn'), pendingBtn: $('pending-btn'), timeline: $('timeline'),
      messages: $('messages'), historyState: $('history-state'), typing: $('typing-indicator'),
      form: $('composer-form'), composer: $('composer'), send: $('send'),
      modeReply: $('mode-reply'), modeNote: $('mode-note'), composerError: $('composer-error'),
      readonly: $('composer-readonly'), conn: $('conn-state'), statusFilter: $('status-filter'),
      contactPane: $('contact-pane'), contact: $('contact'), contactEmpty: $('contact-empty')
    };
    var baseTitle = document.title;

    try {
      var saved = sessionStorage.getItem('kefu.view');
      if (saved === 'unassigned' || saved === 'mine' || saved === 'all') S.view = saved;
    } catch (e) { /* storage may be unavailable */ }

    // ---- conversation list ----

    function inView(c) {
      if (S.status && c.status !== S.status) return false;
      var active = S.status ? true : ACTIVE.indexOf(c.status) >= 0;
      if (S.view === 'unassigned') return !c.assignee_id && active;
      if (S.view === 'mine') return c.assignee_id === me.id && active;
      return true;
    }

    function activityOf(c) { var v = Date.parse(c.last_activity_at); return isNaN(v) ? 0 : v; }

    function sortOrder() {
      S.order.sort(function (a, b) {
        var d = activityOf(S.convs[b]) - activityOf(S.convs[a]);
        return d !== 0 ? d : (a < b ? -1 : 1);
      });
    }

    function contactName(c) {
      return (c && c.contact_name) || t('ws.visitor', { id: c ? String(c.contact_id).slice(-4) : '' });
    }

    function userName(id) { return id && S.users[id] ? S.users[id].name : ''; }

    function renderTabs() {
      document.querySelectorAll('[data-view]').forEach(function (tab) {
        var on = tab.getAttribute('data-view') === S.view;
        tab.classList.toggle('active', on);
        tab.setAttribute('aria-selected', on ? 'true' : 'false');
      });
    }

    function renderList() {
      clear(els.list);
      S.order.forEach(function (id) {
        var c = S.convs[id];
        var unread = !!S.unread[id];
        var assignee = userName(c.assignee_id);
        var li = h('li', {
          class: 'conv-item' + (id === S.currentId ? ' active' : '') + (unread ? ' unread' : ''),
          tabindex: '0', role: 'button', dataset: { conversationId: id, status: c.status }
        },
          h('div', { class: 'ci-top' },
            h('span', { class: 'ci-avatar', 'aria-hidden': 'true' }, contactName(c).slice(0, 1)),
            h('span', { class: 'ci-name' }, contactName(c)),
            unread ? h('span', { class: 'unread-dot', title: t('ws.unread') }) : null,
            h('span', { class: 'ci-time' }, shortTime(c.last_activity_at))),
          h('div', { class: 'ci-preview' }, c.last_message_preview || t('ws.no_messages')),
          h('div', { class: 'ci-meta' },
            h('span', { class: 'badge status-' + c.status }, t('status.' + c.status)),
            c.priority && c.priority !== 'normal'
              ? h('span', { class: 'prio prio-' + c.priority }, t('priority.' + c.priority)) : null,
            h('span', { class: 'ci-assignee' }, assignee ? assignee : (c.assignee_id ? '' : t('ws.unassigned')))));
        els.list.appendChild(li);
      });
      if (S.order.length === 0) {
        els.listState.textContent = t('ws.list.empty');
        els.listState.hidden = false;
      } else {
        els.listState.hidden = true;
      }
      var n = Object.keys(S.unread).length;
      document.title = (n ? '(' + n + ') ' : '') + baseTitle;
    }

    function upsertConv(c, opts) {
      var known = S.convs[c.id];
      if (known && known.last_seq > c.last_seq) {
        // an older snapshot arrived late: keep the newer one
        c = Object.assign({}, c, { last_seq: known.last_seq, last_message_preview: known.last_message_preview,
          last_activity_at: known.last_activity_at });
      }
      S.convs[c.id] = c;
      var idx = S.order.indexOf(c.id);
      if (inView(c)) {
        if (idx < 0) S.order.push(c.id);
        sortOrder();
      } else if (idx >= 0) {
        S.order.splice(idx, 1);
      }
      if (opts && opts.unread && c.id !== S.currentId) S.unread[c.id] = true;
      if (c.id === S.currentId) { S.current = c; renderHeader(); renderDetails(); }
      renderList();
    }

    function loadList() {
      var token = ++S.listToken;
      var q = '/api/v1/conversations?view=' + encodeURIComponent(S.view) + '&limit=100';
      if (S.status) q += '&status=' + encodeURIComponent(S.status);
      if (!S.order.length) { els.listState.textContent = t('common.loading'); els.listState.hidden = false; }
      return api('GET', q).then(function (r) {
        if (token !== S.listToken) return;
        S.order = [];
        r.data.items.forEach(function (c) {
          S.convs[c.id] = c;
          S.order.push(c.id);
        });
        sortOrder();
        renderList();
        scheduleCounts(0);
      }, function (e) {
        if (token !== S.listToken) return;
        els.listState.textContent = e.message;
        els.listState.hidden = false;
      });
    }

    function refreshCounts() {
      ['unassigned', 'mine'].forEach(function (view) {
        api('GET', '/api/v1/conversations?view=' + view + '&limit=1').then(function (r) {
          var el = document.querySelector('[data-count-for="' + view + '"]');
          if (el) el.textContent = r.data.total ? String(r.data.total) : '';
        }, function () { /* counts are a nicety */ });
      });
    }

    function scheduleCounts(delay) {
      clearTimeout(S.countsTimer);
      S.countsTimer = setTimeout(refreshCounts, delay);
    }

    document.querySelectorAll('[data-view]').forEach(function (tab) {
      tab.addEventListener('click', function () {
        var view = tab.getAttribute('data-view');
        if (view === S.view) return;
        S.view = view;
        try { sessionStorage.setItem('kefu.view', view); } catch (e) { /* ignore */ }
        S.order = [];
        renderTabs();
        renderList();
        loadList();
      });
    });

    els.statusFilter.addEventListener('change', function () {
      S.status = els.statusFilter.value;
      S.order = [];
      renderList();
      loadList();
    });

    els.list.addEventListener('click', function (ev) {
      var item = ev.target.closest('.conv-item');
      if (item) openConversation(item.dataset.conversationId);
    });
    els.list.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      var item = ev.target.closest('.conv-item');
      if (item) { ev.preventDefault(); openConversation(item.dataset.conversationId); }
    });

    // ---- users (assignees) ----

    function loadUsers() {
      return api('GET', '/api/v1/users?limit=200').then(function (r) {
        S.users = {};
        S.assignable = [];
        r.data.items.forEach(function (u) {
          S.users[u.id] = u;
          if (u.is_active && (u.role === 'admin' || u.role === 'supervisor' || u.role === 'agent')) {
            S.assignable.push(u);
          }
        });
        S.assignable.sort(function (a, b) {
          if (a.id === me.id) return -1;
          if (b.id === me.id) return 1;
          return a.name.localeCompare(b.name, LOCALE);
        });
        renderList();
        renderHeader();
      }, function () { /* the select then only offers "unassigned" and the current assignee */ });
    }

    function fillAssign(c) {
      clear(els.assign);
      els.assign.appendChild(h('option', { value: '' }, t('ws.unassigned')));
      var seen = false;
      S.assignable.forEach(function (u) {
        if (u.id === c.assignee_id) seen = true;
        var label = u.name + (u.id === me.id ? ' (' + t('ws.me') + ')' : '') + ' · ' + t('role.' + u.role);
        els.assign.appendChild(h('option', { value: u.id }, label));
      });
      if (c.assignee_id && !seen) {
        els.assign.appendChild(h('option', { value: c.assignee_id, disabled: true },
          userName(c.assignee_id) || t('ws.unknown_user')));
      }
      els.assign.value = c.assignee_id || '';
    }

    // ---- conversation view ----

    function renderHeader() {
      var c = S.current;
      if (!c) return;
      els.name.textContent = contactName(c);
      els.status.textContent = t('status.' + c.status);
      els.status.setAttribute('data-status', c.status);
      els.status.className = 'badge status-' + c.status;
      var bits = [];
      var who = userName(c.assignee_id);
      bits.push(c.assignee_id ? t('ws.assigned_to', { name: who || t('ws.unknown_user') }) : t('ws.unassigned'));
      bits.push(t('ws.started', { time: stamp(c.created_at) }));
      els.sub.textContent = bits.join(' · ');
      fillAssign(c);
      els.priority.value = c.priority || 'normal';
      var resolved = c.status === 'resolved';
      els.resolve.hidden = resolved;
      els.reopen.hidden = !resolved;
      els.pendingBtn.hidden = resolved;
      els.pendingBtn.textContent = c.status === 'pending' ? t('ws.action.unpend') : t('ws.action.pending');
      var manage = !!perms['conversation.manage'];
      [els.assign, els.priority, els.resolve, els.reopen, els.pendingBtn].forEach(function (el) {
        el.disabled = !manage;
      });
    }

    function msgClass(m) {
      if (m.sender_type === 'system') return 'msg-system';
      if (m.private) return 'msg-note';
      if (m.sender_type === 'customer') return 'msg-customer';
      if (m.sender_type === 'bot') return 'msg-bot';
      return 'msg-agent';
    }

    function senderLabel(m) {
      if (m.sender_type === 'customer') return m.sender_name || contactName(S.current);
      if (m.sender_type === 'bot') return m.sender_name || t('ws.sender.bot');
      if (m.sender_type === 'agent') return m.sender_name || userName(m.sender_id) || t('ws.sender.agent');
      return '';
    }

    /* Activity lines are bilingual "中文 / English"; show one half, with status names translated. */
    function systemText(content) {
      return localize(content).replace(/\b(bot|queued|open|pending|resolved)$/, function (w) {
        return t('status.' + w);
      });
    }

    function messageEl(m, pending) {
      var cls = msgClass(m);
      var attrs = { class: 'msg ' + cls + (pending ? ' msg-pending' + (m.failed ? ' msg-failed' : '') : ''),
        dataset: {} };
      if (!pending) { attrs['data-seq'] = String(m.seq); attrs.dataset.id = m.id; }
      else attrs.dataset.clientMsgId = m.client_msg_id;
      if (cls === 'msg-system') {
        return h('div', attrs, h('div', { class: 'msg-body' }, systemText(m.content)),
          h('span', { class: 'msg-time' }, shortTime(m.created_at)));
      }
      var meta = h('div', { class: 'msg-meta' },
        cls === 'msg-note' ? h('span', { class: 'note-label' }, t('ws.note_label')) : null,
        h('span', { class: 'msg-sender' }, senderLabel(m)),
        h('span', { class: 'msg-time', title: stamp(m.created_at) }, pending ? '' : shortTime(m.created_at)));
      var body = h('div', { class: 'msg-body' }, m.content);
      var foot = null;
      if (m.sender_type === 'bot' && m.meta) foot = botMeta(m.meta);
      if (pending) {
        foot = h('div', { class: 'msg-state' },
          m.failed ? h('span', { class: 'msg-error' }, t('ws.send_failed', { reason: m.error || '' })) : t('ws.sending'),
          m.failed ? h('button', { type: 'button', class: 'btn-link retry-btn', dataset: { retry: m.client_msg_id } },
            t('ws.retry')) : null,
          m.failed ? h('button', { type: 'button', class: 'btn-link', dataset: { discard: m.client_msg_id } },
            t('ws.discard')) : null);
      }
      return h('div', attrs, h('div', { class: 'bubble' }, meta, body, foot));
    }

    /* What the bot based a message on: the entry it answered with, the options it offered,
       why it handed over. */
    function botMeta(meta) {
      var parts = [];
      if (meta.kind === 'answer' && meta.question) parts.push(t('ws.bot.answered', { question: meta.question }));
      else if (meta.kind === 'clarify') {
        parts.push(t('ws.bot.offered', { options: (meta.options || []).map(function (o) { return o.question; }).join(' | ') }));
      } else if (meta.kind === 'passage') parts.push(t('ws.bot.quoted', { title: meta.title || '' }));
      else if (meta.kind === 'handoff' || meta.kind === 'leave_message') {
        parts.push(t('ws.bot.reason.' + (meta.reason || 'none')));
      }
      if (!parts.length) return null;
      return h('div', { class: 'msg-botmeta muted small' }, parts.join(' · '));
    }

    function nearBottom() {
      var tl = els.timeline;
      return tl.scrollHeight - tl.scrollTop - tl.clientHeight < 80;
    }

    function scrollBottom() { els.timeline.scrollTop = els.timeline.scrollHeight; }

    function renderMessages(opts) {
      opts = opts || {};
      var stick = opts.bottom || nearBottom();
      var prevHeight = els.timeline.scrollHeight, prevTop = els.timeline.scrollTop;
      clear(els.messages);
      var list = Object.keys(S.msgs).map(function (id) { return S.msgs[id]; });
      list.sort(function (a, b) { return a.seq - b.seq; });
      var lastDay = null;
      list.forEach(function (m) {
        var d = new Date(m.created_at);
        var key = isNaN(d.getTime()) ? '' : d.toDateString();
        if (key && key !== lastDay) {
          els.messages.appendChild(h('div', { class: 'day-divider' }, h('span', null, dayLabel(d))));
          lastDay = key;
        }
        els.messages.appendChild(messageEl(m, false));
      });
      Object.keys(S.pending).forEach(function (cid) {
        var p = S.pending[cid];
        if (p.conversation_id === S.currentId) els.messages.appendChild(messageEl(p, true));
      });
      if (S.hasOlder) {
        els.historyState.textContent = S.loadingOlder ? t('common.loading') : t('ws.history.more');
      } else {
        els.historyState.textContent = list.length ? t('ws.history.start') : t('ws.no_messages');
      }
      if (opts.keepTop) {
        els.timeline.scrollTop = prevTop + (els.timeline.scrollHeight - prevHeight);
      } else if (stick) {
        scrollBottom();
      }
    }

    function addMessages(list) {
      var changed = false;
      list.forEach(function (m) {
        if (m.conversation_id !== S.currentId) return;
        if (!S.msgs[m.id]) changed = true;
        S.msgs[m.id] = m;
        if (m.client_msg_id && S.pending[m.client_msg_id]) { delete S.pending[m.client_msg_id]; changed = true; }
        if (S.minSeq === null || m.seq < S.minSeq) S.minSeq = m.seq;
        if (m.seq > S.maxSeq) S.maxSeq = m.seq;
      });
      return changed;
    }

    function loadLatest(conv, token) {
      var before = (conv.last_seq || 0) + 1;
      return api('GET', '/api/v1/conversations/' + encodeURIComponent(conv.id) +
        '/messages?before_seq=' + before + '&limit=' + PAGE_SIZE).then(function (r) {
        if (token !== S.convToken) return;
        addMessages(r.data);
        S.loaded = true;
        S.hasOlder = r.data.length >= PAGE_SIZE && S.minSeq !== null && S.minSeq > 1;
        renderMessages({ bottom: true });
        pushKb();
        return fetchNewer(token);
      });
    }

    /* Catch up after the newest message we hold (only once the first page is in: before
       that, "after 0" would fetch the whole history instead of its last page). */
    function fetchNewer(token) {
      if (!S.currentId || !S.loaded) return Promise.resolve();
      var id = S.currentId;
      return api('GET', '/api/v1/conversations/' + encodeURIComponent(id) +
        '/messages?after_seq=' + S.maxSeq + '&limit=200').then(function (r) {
        if (token !== S.convToken || id !== S.currentId) return;
        if (addMessages(r.data)) renderMessages();
        if (r.data.length === 200) return fetchNewer(token);
      }, function () { /* the next frame or reconnect will try again */ });
    }

    function loadOlder() {
      if (!S.hasOlder || S.loadingOlder || S.minSeq === null) return;
      var token = S.convToken, id = S.currentId;
      S.loadingOlder = true;
      renderMessages({ keepTop: true });
      api('GET', '/api/v1/conversations/' + encodeURIComponent(id) +
        '/messages?before_seq=' + S.minSeq + '&limit=' + PAGE_SIZE).then(function (r) {
        if (token !== S.convToken) return;
        S.loadingOlder = false;
        addMessages(r.data);
        S.hasOlder = r.data.length >= PAGE_SIZE && S.minSeq > 1;
        renderMessages({ keepTop: true });
      }, function (e) {
        if (token !== S.convToken) return;
        S.loadingOlder = false;
        renderMessages({ keepTop: true });
        toast(e.message);
      });
    }

    els.timeline.addEventListener('scroll', function () {
      if (els.timeline.scrollTop < 60) loadOlder();
    });

    function openConversation(id, opts) {
      if (!id) return;
      if (id === S.currentId && !(opts && opts.force)) { document.body.classList.add('show-conv'); return; }
      stopTyping();
      var token = ++S.convToken;
      S.currentId = id;
      S.current = S.convs[id] || null;
      S.msgs = {}; S.minSeq = null; S.maxSeq = 0; S.hasOlder = false; S.loadingOlder = false;
      S.loaded = false;
      delete S.unread[id];
      hideCustomerTyping();
      hideQaBlock();
      els.empty.hidden = true;
      els.conv.hidden = false;
      els.composerError.textContent = '';
      document.body.classList.add('show-conv');
      try { history.replaceState(null, '', '#c=' + encodeURIComponent(id)); } catch (e) { /* ignore */ }
      renderList();
      clear(els.messages);
      els.historyState.textContent = t('common.loading');
      if (S.current) { renderHeader(); renderDetails(); }
      applyComposerPerms();
      api('GET', '/api/v1/conversations/' + encodeURIComponent(id)).then(function (r) {
        if (token !== S.convToken) return;
        S.current = r.data;
        S.convs[id] = r.data;
        renderHeader();
        renderDetails();
        loadContact(r.data.contact_id, token);
        return loadLatest(r.data, token);
      }).catch(function (e) {
        if (token !== S.convToken) return;
        els.historyState.textContent = e.message;
        if (e.status === 404) {
          delete S.convs[id];
          var idx = S.order.indexOf(id);
          if (idx >= 0) S.order.splice(idx, 1);
          renderList();
        }
      });
      if (!(opts && opts.noFocus) && !els.composer.disabled && window.matchMedia('(min-width: 761px)').matches) {
        els.composer.focus();
      }
    }

    $('back-btn').addEventListener('click', function () { document.body.classList.remove('show-conv'); });
    $('contact-toggle').addEventListener('click', function () {
      document.body.classList.toggle('show-contact');
    });
    $('contact-close').addEventListener('click', function () {
      document.body.classList.remove('show-contact');
    });
    document.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') document.body.classList.remove('show-contact');
    });

    // ---- header actions ----

    function convAction(path, body, done) {
      var id = S.currentId;
      if (!id) return Promise.resolve();
      return api('POST', '/api/v1/conversations/' + encodeURIComponent(id) + path, body).then(function (r) {
        upsertConv(r.data);
        if (id === S.currentId) fetchNewer(S.convToken);
        if (done) toast(done, 'ok');
      }, function (e) {
        toast(e.message);
        renderHeader();
      });
    }

    els.assign.addEventListener('change', function () {
      var value = els.assign.value;
      convAction('/assign', { assignee_id: value || null },
        value ? t('ws.done.assigned', { name: userName(value) }) : t('ws.done.unassigned'));
    });
    els.priority.addEventListener('change', function () {
      convAction('/priority', { priority: els.priority.value });
    });
    els.resolve.addEventListener('click', function () {
      convAction('/status', { status: 'resolved' }, t('ws.done.resolved'));
    });
    els.reopen.addEventListener('click', function () {
      convAction('/status', { status: 'open' }, t('ws.done.reopened'));
    });
    els.pendingBtn.addEventListener('click', function () {
      var toPending = !(S.current && S.current.status === 'pending');
      convAction('/status', { status: toPending ? 'pending' : 'open' });
    });
    // 创建工单: a ticket from the open conversation, then its page
    var ticketBtn = $('ticket-btn');
    if (ticketBtn) {
      ticketBtn.addEventListener('click', function () {
        var id = S.currentId;
        if (!id) return;
        ticketBtn.disabled = true;
        api('POST', '/api/v1/conversations/' + encodeURIComponent(id) + '/ticket', {}).then(function (r) {
          location.href = '/app/tickets/' + encodeURIComponent(r.data.id);
        }, function (e) {
          ticketBtn.disabled = false;
          toast(e.message);
        });
      });
    }

    // ---- contact panel ----

    function kvRow(dl, label, value, cls) {
      dl.appendChild(h('dt', null, label));
      dl.appendChild(h('dd', { class: cls || null }, value === '' || value === null || value === undefined ? '—' : value));
    }

    function renderDetails() {
      var c = S.current;
      var dl = $('conv-details');
      clear(dl);
      if (!c) return;
      kvRow(dl, t('ws.detail.status'), t('status.' + c.status));
      kvRow(dl, t('ws.detail.priority'), t('priority.' + c.priority));
      kvRow(dl, t('ws.detail.assignee'), userName(c.assignee_id) || (c.assignee_id ? t('ws.unknown_user') : t('ws.unassigned')));
      kvRow(dl, t('ws.detail.created'), stamp(c.created_at));
      if (c.resolved_at) kvRow(dl, t('ws.detail.resolved'), stamp(c.resolved_at));
      kvRow(dl, t('ws.detail.id'), c.id, 'mono small');
    }

    function loadContact(contactId, token) {
      S.contactId = contactId;
      els.contact.hidden = true;
      els.contactEmpty.hidden = false;
      els.contactEmpty.textContent = t('common.loading');
      api('GET', '/api/v1/contacts/' + encodeURIComponent(contactId)).then(function (r) {
        if (token !== S.convToken) return;
        renderContact(r.data);
      }, function (e) {
        if (token !== S.convToken) return;
        els.contactEmpty.textContent = e.message;
      });
    }

    function renderContact(ct) {
      els.contactEmpty.hidden = true;
      els.contact.hidden = false;
      var name = ct.name || contactName(S.current);
      $('contact-name').textContent = name;
      $('contact-avatar').textContent = name.slice(0, 1);
      $('contact-seen').textContent = ct.last_seen_at ? t('ws.contact.seen', { time: stamp(ct.last_seen_at) }) : '';
      var fields = $('contact-fields');
      clear(fields);
      kvRow(fields, t('ws.contact.phone'), ct.phone, 'mono');
      kvRow(fields, t('ws.contact.email'), ct.email);
      kvRow(fields, t('ws.contact.since'), stamp(ct.created_at));
      var attrs = $('contact-attributes');
      clear(attrs);
      var keys = Object.keys(ct.attributes || {});
      if (!keys.length) attrs.appendChild(h('div', { class: 'muted small' }, t('ws.contact.no_attributes')));
      keys.sort().forEach(function (k) {
        var v = ct.attributes[k];
        if (typeof v === 'boolean') v = v ? t('common.yes') : t('common.no');
        else if (v !== null && typeof v === 'object') v = JSON.stringify(v);
        kvRow(attrs, k, v === null ? '' : String(v));
      });
      var ids = $('contact-identities');
      clear(ids);
      if (!(ct.identities || []).length) ids.appendChild(h('li', { class: 'muted small' }, t('ws.contact.no_identities')));
      (ct.identities || []).forEach(function (i) {
        ids.appendChild(h('li', null,
          h('span', { class: 'id-kind' }, i.kind),
          h('span', { class: 'mono id-value' }, i.external_id),
          i.verified ? h('span', { class: 'badge badge-ok' }, t('ws.contact.verified'))
            : h('span', { class: 'badge badge-muted' }, t('ws.contact.unverified'))));
      });
    }

    // ---- composer ----

    function applyComposerPerms() {
      var canReply = !!perms['conversation.reply'];
      els.composer.disabled = !canReply;
      els.send.disabled = !canReply;
      els.modeReply.disabled = !canReply;
      els.modeNote.disabled = !canReply;
      els.readonly.hidden = canReply;
    }

    function setMode(mode) {
      S.mode = mode;
      els.form.dataset.mode = mode;
      els.modeReply.classList.toggle('active', mode === 'reply');
      els.modeNote.classList.toggle('active', mode === 'note');
      els.modeReply.setAttribute('aria-pressed', mode === 'reply' ? 'true' : 'false');
      els.modeNote.setAttribute('aria-pressed', mode === 'note' ? 'true' : 'false');
      els.composer.placeholder = mode === 'note' ? t('ws.composer.placeholder_note') : t('ws.composer.placeholder_reply');
      els.send.textContent = mode === 'note' ? t('ws.send_note') : t('ws.send');
      if (mode === 'note') stopTyping();
    }

    els.modeReply.addEventListener('click', function () { setMode('reply'); els.composer.focus(); });
    els.modeNote.addEventListener('click', function () { setMode('note'); els.composer.focus(); });

    function postPending(p) {
      var path = '/api/v1/conversations/' + encodeURIComponent(p.conversation_id) + (p.private ? '/notes' : '/messages');
      p.failed = false;
      renderMessages({ bottom: true });
      var body = { content: p.content, client_msg_id: p.client_msg_id };
      if (p.qa_override_reason) body.qa_override_reason = p.qa_override_reason;
      return api('POST', path, body).then(function (r) {
        if (p.conversation_id === S.currentId) {
          delete S.pending[p.client_msg_id];
          addMessages([r.data]);
          renderMessages({ bottom: true });
        } else {
          delete S.pending[p.client_msg_id];
        }
      }, function (e) {
        if (!S.pending[p.client_msg_id]) return;
        if (e.code === 'qa_blocked' && p.conversation_id === S.currentId) {
          // not sent: the draft goes back to the composer with the reason and the words marked
          delete S.pending[p.client_msg_id];
          renderMessages({ bottom: true });
          showQaBlock(p, (e.details && e.details.hits) || []);
          return;
        }
        p.failed = true;
        p.error = e.message;
        if (p.conversation_id === S.currentId) {
          els.composerError.textContent = e.message;
          renderMessages({ bottom: true });
        }
      });
    }

    // ---- quality interception: a blocked draft, its marked words, "send anyway" ----

    var qa = { box: null, draft: null };

    function markedText(draft, hits) {
      var box = h('div', { class: 'qa-block-draft' });
      // spans count code points of the text as the server stores it (trimmed, \r\n → \n);
      // an array of code points keeps an emoji from shifting the marks
      var text = Array.from(String(draft || '').replace(/\r\n/g, '\n').trim());
      var spans = hits.map(function (x) { return x.span; }).filter(function (sp) {
        return Array.isArray(sp) && sp[0] < sp[1];
      }).sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
      var at = 0;
      spans.forEach(function (sp) {
        var start = Math.max(at, sp[0]), end = Math.min(text.length, sp[1]);
        if (end <= start) return;
        if (start > at) box.appendChild(document.createTextNode(text.slice(at, start).join('')));
        box.appendChild(h('mark', null, text.slice(start, end).join('')));
        at = end;
      });
      if (at < text.length) box.appendChild(document.createTextNode(text.slice(at).join('')));
      box.style.whiteSpace = 'pre-wrap';
      box.style.margin = '4px 0';
      return box;
    }

    function hideQaBlock() {
      if (qa.box && qa.box.parentNode) qa.box.parentNode.removeChild(qa.box);
      qa.box = null;
      qa.draft = null;
    }

    function showQaBlock(p, hits) {
      hideQaBlock();
      if (!els.composer.value.trim()) els.composer.value = p.content;
      qa.draft = { conversation_id: p.conversation_id, content: p.content };
      var names = [];
      hits.forEach(function (x) { if (names.indexOf(x.rule_name) < 0) names.push(x.rule_name); });
      var reason = h('input', { type: 'text', id: 'qa-override-reason', maxlength: '500',
        placeholder: qaT('reason_placeholder'), 'aria-label': qaT('reason_label') });
      var confirm = h('button', { type: 'button', class: 'btn btn-primary btn-sm', id: 'qa-override-confirm' },
        qaT('confirm'));
      var cancel = h('button', { type: 'button', class: 'btn btn-quiet btn-sm', id: 'qa-override-cancel' },
        qaT('cancel'));
      var ask = h('div', { class: 'qa-block-reason', id: 'qa-block-reason', hidden: true },
        h('label', { for: 'qa-override-reason', class: 'small' }, qaT('reason_label')), reason,
        h('div', { class: 'qa-block-actions' }, confirm, cancel));
      var anyway = h('button', { type: 'button', class: 'btn btn-sm', id: 'qa-send-anyway' },
        qaT('send_anyway'));
      var hint = h('div', { class: 'composer-error qa-block-error', id: 'qa-block-error' });
      qa.box = h('div', { class: 'qa-block', id: 'qa-block', role: 'alert' },
        h('div', { class: 'composer-error qa-block-msg' }, qaT('blocked')),
        h('div', { class: 'qa-block-rules small muted' }, qaT('rules', { rules: names.join('、') })),
        markedText(p.content, hits),
        h('div', { class: 'qa-block-actions' }, anyway), ask, hint);
      qa.box.style.padding = '6px 14px';
      qa.box.style.borderTop = '1px dashed #e4e7ec';
      anyway.addEventListener('click', function () {
        anyway.hidden = true;
        ask.hidden = false;
        reason.focus();
      });
      cancel.addEventListener('click', function () { hideQaBlock(); els.composer.focus(); });
      function confirmSend() {
        var why = reason.value.trim();
        if (!why || why.length > 500) { hint.textContent = qaT('reason_needed'); reason.focus(); return; }
        var draft = qa.draft;
        if (!draft || draft.conversation_id !== S.currentId) { hideQaBlock(); return; }
        var q = {
          client_msg_id: randomId(), conversation_id: draft.conversation_id, content: draft.content,
          private: false, sender_type: 'agent', sender_id: me.id, sender_name: me.name,
          created_at: new Date().toISOString(), failed: false, qa_override_reason: why
        };
        hideQaBlock();
        if (els.composer.value === draft.content) els.composer.value = '';
        S.pending[q.client_msg_id] = q;
        postPending(q);
      }
      confirm.addEventListener('click', confirmSend);
      reason.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && !ev.isComposing && ev.keyCode !== 229) { ev.preventDefault(); confirmSend(); }
      });
      var foot = els.form.querySelector('.composer-foot');
      els.form.insertBefore(qa.box, foot);
    }

    function send() {
      if (!S.currentId || els.composer.disabled) return;
      hideQaBlock();
      var text = els.composer.value.replace(/\s+$/, '');
      if (!text.trim()) return;
      if (text.length > 4000) { els.composerError.textContent = t('ws.too_long'); return; }
      els.composerError.textContent = '';
      var p = {
        client_msg_id: randomId(), conversation_id: S.currentId, content: text,
        private: S.mode === 'note', sender_type: 'agent', sender_id: me.id, sender_name: me.name,
        created_at: new Date().toISOString(), failed: false
      };
      S.pending[p.client_msg_id] = p;
      els.composer.value = '';
      stopTyping();
      postPending(p);
    }

    els.form.addEventListener('submit', function (ev) { ev.preventDefault(); send(); });
    els.composer.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        send();
      }
    });
    els.messages.addEventListener('click', function (ev) {
      var retry = ev.target.closest('[data-retry]');
      if (retry) {
        var p = S.pending[retry.dataset.retry];
        if (p) postPending(p);
        return;
      }
      var discard = ev.target.closest('[data-discard]');
      if (discard) {
        delete S.pending[discard.dataset.discard];
        els.composerError.textContent = '';
        renderMessages();
      }
    });

    // typing: at most one "on" frame every 3 s while the agent types a reply
    els.composer.addEventListener('input', function () {
      els.composerError.textContent = '';
      if (qa.box && qa.draft && els.composer.value !== qa.draft.content) hideQaBlock();
      if (S.mode !== 'reply' || !S.currentId || !els.composer.value) return;
      var now = Date.now();
      if (now - S.typingSentAt >= 3000) {
        if (wsSend({ type: 'typing', conversation_id: S.currentId, on: true })) S.typingSentAt = now;
      }
      clearTimeout(S.typingStop);
      S.typingStop = setTimeout(stopTyping, 5000);
    });

    function stopTyping() {
      clearTimeout(S.typingStop);
      if (S.typingSentAt && S.currentId) wsSend({ type: 'typing', conversation_id: S.currentId, on: false });
      S.typingSentAt = 0;
    }

    function showCustomerTyping() {
      els.typing.hidden = false;
      clearTimeout(S.customerTypingTimer);
      S.customerTypingTimer = setTimeout(hideCustomerTyping, 6000);
    }

    function hideCustomerTyping() {
      clearTimeout(S.customerTypingTimer);
      els.typing.hidden = true;
    }

    // ---- live updates ----

    function setConn(state) {
      if (!els.conn) return;
      els.conn.dataset.state = state;
      els.conn.textContent = t('ws.conn.' + state);
    }

    function wsSend(frame) {
      if (S.ws && S.ws.readyState === WebSocket.OPEN) {
        S.ws.send(JSON.stringify(frame));
        return true;
      }
      return false;
    }

    function resync() {
      loadList();
      if (S.currentId) {
        var token = S.convToken, id = S.currentId;
        api('GET', '/api/v1/conversations/' + encodeURIComponent(id)).then(function (r) {
          if (token !== S.convToken) return;
          upsertConv(r.data);
          fetchNewer(token);
        }, function () { /* shown on next action */ });
      }
    }

    // ---- knowledge: search, and suggestions for the customer's latest message ----

    var kb = { input: $('kb-search'), form: $('kb-search-form'), list: $('kb-results'),
               hint: $('kb-hint'), token: 0, lastPushed: null };

    function renderKb(items, pushedFor) {
      clear(kb.list);
      if (!items.length) {
        kb.list.appendChild(h('li', { class: 'kb-empty muted small' }, t('ws.kb.none')));
        return;
      }
      items.forEach(function (it) {
        var insert = h('button', { type: 'button', class: 'btn btn-small kb-insert',
          dataset: { entryId: it.entry_id } }, t('ws.kb.insert'));
        insert.addEventListener('click', function () {
          var box = els.composer;
          if (box.disabled) return;
          box.value = box.value.trim() ? box.value.replace(/\s+$/, '') + '\n' + it.answer : it.answer;
          box.dispatchEvent(new Event('input'));
          box.focus();
        });
        kb.list.appendChild(h('li', { class: 'kb-item', dataset: { entryId: it.entry_id } },
          h('div', { class: 'kb-q' }, it.question,
            h('span', { class: 'kb-conf muted small', title: t('ws.kb.confidence') },
              ' ' + Math.round((it.confidence || 0) * 100) + '%')),
          h('div', { class: 'kb-a small' }, it.answer.length > 160 ? it.answer.slice(0, 160) + '…' : it.answer),
          insert));
      });
      kb.hint.textContent = pushedFor ? t('ws.kb.pushed_for', { text: pushedFor.slice(0, 40) }) : '';
    }

    function kbSearch(text, pushed) {
      if (!kb.list) return;
      var q = (text || '').trim();
      var token = ++kb.token;
      if (!q) { clear(kb.list); kb.hint.textContent = t('ws.kb.push_hint'); return; }
      api('GET', '/api/v1/kb/search?k=3&q=' + encodeURIComponent(q.slice(0, 200))).then(function (r) {
        if (token !== kb.token) return;
        renderKb(Array.isArray(r.data) ? r.data : [], pushed ? q : null);
      }, function (e) { if (token === kb.token) kb.hint.textContent = e.message; });
    }

    /* Knowledge push: the latest customer message of the open conversation, searched as is. */
    function pushKb() {
      if (!kb.list || (kb.input.value || '').trim()) return;
      var last = null;
      Object.keys(S.msgs).forEach(function (id) {
        var m = S.msgs[id];
        if (m.sender_type === 'customer' && (!last || m.seq > last.seq)) last = m;
      });
      if (!last || last.id === kb.lastPushed) return;
      kb.lastPushed = last.id;
      kbSearch(last.content, true);
    }

    if (kb.form) {
      kb.form.addEventListener('submit', function (ev) { ev.preventDefault(); kbSearch(kb.input.value, false); });
      var kbTimer = null;
      kb.input.addEventListener('input', function () {
        clearTimeout(kbTimer);
        kbTimer = setTimeout(function () {
          if (kb.input.value.trim()) kbSearch(kb.input.value, false);
          else { kb.lastPushed = null; pushKb(); }
        }, 250);
      });
    }

    function handleFrame(f) {
      if (!f || typeof f.type !== 'string') return;
      if (f.type === 'message.created') {
        var m = f.message, c = f.conversation;
        var fromCustomer = m.sender_type === 'customer';
        if (c) upsertConv(c, { unread: fromCustomer || m.sender_type === 'bot' });
        if (m.conversation_id === S.currentId) {
          if (fromCustomer) hideCustomerTyping();
          var gap = S.maxSeq > 0 && m.seq > S.maxSeq + 1;
          if (addMessages([m])) renderMessages();
          if (gap) fetchNewer(S.convToken);
          if (fromCustomer) pushKb();
        }
      } else if (f.type === 'conversation.created') {
        upsertConv(f.conversation, { unread: true });
        scheduleCounts(800);
      } else if (f.type === 'conversation.updated') {
        upsertConv(f.conversation);
        scheduleCounts(800);
      } else if (f.type === 'typing') {
        if (f.sender_type === 'customer' && f.conversation_id && f.conversation_id === S.currentId) {
          if (f.on === false) hideCustomerTyping(); else showCustomerTyping();
        }
      } else if (f.type === 'error') {
        if (f.code === 'unauthenticated') setConn('offline');
      }
    }

    function connect() {
      clearTimeout(S.wsTimer);
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent';
      var ws;
      try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
      S.ws = ws;
      setConn(S.wsAttempts ? 'reconnecting' : 'connecting');
      ws.onopen = function () {
        S.wsAttempts = 0;
        setConn('online');
        clearInterval(S.pingTimer);
        S.pingTimer = setInterval(function () { wsSend({ type: 'ping' }); }, 25000);
        // subscribed now: reload what may have changed before (first open or a reconnect)
        resync();
      };
      ws.onmessage = function (ev) {
        var frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return; }
        try { document.dispatchEvent(new CustomEvent('kefu:frame', { detail: frame })); } catch (e) { /* old browser */ }
        handleFrame(frame);
      };
      ws.onclose = function (ev) {
        clearInterval(S.pingTimer);
        if (S.ws !== ws) return;
        S.ws = null;
        if (ev.code === 4401) {
          setConn('offline');
          location.href = '/app/login';
          return;
        }
        scheduleReconnect();
      };
      ws.onerror = function () { /* onclose follows */ };
    }

    function scheduleReconnect() {
      S.wsAttempts += 1;
      setConn('reconnecting');
      var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(S.wsAttempts - 1, 5)));
      delay = delay / 2 + Math.random() * delay / 2;
      clearTimeout(S.wsTimer);
      S.wsTimer = setTimeout(connect, delay);
    }

    window.addEventListener('online', function () {
      if (!S.ws) { S.wsAttempts = Math.max(S.wsAttempts, 1); connect(); }
    });

    // refresh relative times now and then
    setInterval(function () { renderList(); }, 60000);

    // ---- start ----
    renderTabs();
    setMode('reply');
    applyComposerPerms();
    loadUsers();
    loadList();
    connect();
    var m = /^#c=([A-Za-z0-9_.:-]+)$/.exec(location.hash);
    if (m) openConversation(decodeURIComponent(m[1]), { noFocus: true });
  }

  // -- start ------------------------------------------------------------------------------

  var page = document.body.getAttribute('data-page');
  if (page === 'workspace') initWorkspace();
  else if (page === 'admin') initAdmin();
})();
