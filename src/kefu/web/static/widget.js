/*!
 * kefu web chat widget — our own vanilla JavaScript, no dependencies, no build step.
 *
 * Embed:
 *   <script src="https://kefu.example/widget.js" data-inbox="INBOX_ID" async></script>
 * Optional: data-user-id + data-user-hash (HMAC-SHA256(inbox secret, user id), hex, computed
 * by the host site's backend), data-name, data-lang ("zh-CN" default, "en").
 *
 * The server is the script's own origin. Everything renders inside an open Shadow DOM with
 * inline styles, so the host page's CSS neither leaks in nor out.
 *
 * Transport: POST /api/v1/webchat/{inbox}/sessions (visitor token + history), then the
 * WebSocket /ws/webchat (frames documented in kefu/channels/webchat/adapter.py). Each message
 * carries a client_msg_id; unacked messages are kept in localStorage and resent with the same
 * id after a reconnect (the server dedupes). After 3 failed connects in a row the widget falls
 * back to HTTP: POST .../messages to send, GET .../messages every 3 s to receive.
 */
(function () {
  'use strict';

  // -- where we come from ------------------------------------------------------------------

  var script = document.currentScript;
  if (!script || !script.getAttribute('data-inbox')) {
    script = null;
    var candidates = document.querySelectorAll('script[data-inbox]');
    for (var ci = 0; ci < candidates.length; ci++) {
      if (/widget\.js(\?|#|$)/.test(candidates[ci].src)) { script = candidates[ci]; }
    }
  }
  if (!script) { return; }
  var INBOX = script.getAttribute('data-inbox') || '';
  if (!INBOX) { return; }
  var loaded = window.__kefuWidgets = window.__kefuWidgets || {};
  if (loaded[INBOX]) { return; }
  loaded[INBOX] = true;

  var BASE = new URL(script.src, window.location.href).origin;
  var USER_ID = script.getAttribute('data-user-id') || '';
  var USER_HASH = script.getAttribute('data-user-hash') || '';
  var NAME = script.getAttribute('data-name') || '';
  var LANG = /^en/i.test(script.getAttribute('data-lang') || '') ? 'en' : 'zh-CN';

  var MAX_CHARS = 4000;
  var PING_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;
  var POLL_MS = 3000;
  var TYPING_THROTTLE_MS = 3000;
  var AGENT_TYPING_MS = 6000;
  var FAILS_BEFORE_FALLBACK = 3;
  var BACKOFF_BASE_MS = 400;
  var BACKOFF_MAX_MS = 30000;
  var FALLBACK_WS_RETRY_MS = 30000;
  var TOKEN_ERRORS = { visitor_token_invalid: 1, visitor_token_expired: 1,
                       visitor_token_wrong_inbox: 1, visitor_token_missing: 1,
                       visitor_unknown: 1 };

  // -- strings -----------------------------------------------------------------------------

  var STRINGS = {
    'zh-CN': {
      open: '在线客服', close: '关闭', subtitle: '通常几分钟内回复',
      placeholder: '输入消息，Enter 发送，Shift+Enter 换行', send: '发送',
      sending: '发送中…', sent: '已发送', failed: '发送失败', retry: '重试',
      agentTyping: '客服正在输入…', ended: '会话已结束',
      tooLong: '消息不能超过 4000 字，请分几条发送', connecting: '正在连接…',
      reconnecting: '连接中断，正在重连…', offline: '无法连接客服，请稍后再试',
      loadFailed: '客服窗口加载失败', reload: '重新加载', originDenied: '此网站不允许使用该客服窗口',
      prechatTitle: '开始咨询前，请留下您的联系方式', prechatHint: '方便客服在您离开后联系您',
      name: '您的称呼', phone: '手机号', email: '邮箱', start: '开始咨询', skip: '跳过',
      required: '请填写此项', badPhone: '请输入有效的手机号', badEmail: '请输入有效的邮箱',
      prechatPending: '请先填写上方信息', saving: '提交中…', bot: '智能助手', agent: '客服',
      newMessages: '条新消息', poweredBy: 'kefu 智能客服',
      helpful: '有用', unhelpful: '没用', thanks: '感谢您的反馈', related: '相关问题',
      guess: '猜你想问', human: '转人工', humanText: '转人工', source: '查看原文'
    },
    en: {
      open: 'Chat with us', close: 'Close', subtitle: 'We usually reply in a few minutes',
      placeholder: 'Type a message — Enter to send, Shift+Enter for a new line', send: 'Send',
      sending: 'Sending…', sent: 'Sent', failed: 'Not sent', retry: 'Retry',
      agentTyping: 'Agent is typing…', ended: 'Conversation ended',
      tooLong: 'Messages are limited to 4,000 characters — please split it up',
      connecting: 'Connecting…', reconnecting: 'Connection lost, reconnecting…',
      offline: 'Cannot reach support right now, please try again later',
      loadFailed: 'The chat could not be loaded', reload: 'Try again',
      originDenied: 'This website may not use this chat window',
      prechatTitle: 'Before we start, how can we reach you?',
      prechatHint: 'So an agent can get back to you if you leave',
      name: 'Your name', phone: 'Phone', email: 'Email', start: 'Start chat', skip: 'Skip',
      required: 'Please fill this in', badPhone: 'Please enter a valid phone number',
      badEmail: 'Please enter a valid email address',
      prechatPending: 'Please fill in the form above',
      saving: 'Saving…', bot: 'Assistant', agent: 'Agent', newMessages: 'new messages',
      poweredBy: 'kefu customer service',
      helpful: 'Helpful', unhelpful: 'Not helpful', thanks: 'Thanks for your feedback',
      related: 'Related questions', guess: 'You may want to ask', human: 'Talk to a person',
      humanText: '转人工', source: 'Source'
    }
  };
  var T = STRINGS[LANG];

  // Server messages are bilingual ("中文 / English"): show the visitor's half.
  function localize(message) {
    var text = String(message || '');
    var cut = text.indexOf(' / ');
    if (cut < 0) { return text; }
    return LANG === 'en' ? text.slice(cut + 3) : text.slice(0, cut);
  }

  // -- storage (never throws: storage can be disabled or full) -----------------------------

  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* ignore */ } },
    del: function (k) { try { window.localStorage.removeItem(k); } catch (e) { /* ignore */ } }
  };
  var SCOPE = INBOX + (USER_ID ? ':u:' + USER_ID : '');
  var TOKEN_KEY = 'kefu:visitor:' + INBOX;
  var OUTBOX_KEY = 'kefu:outbox:' + SCOPE;
  var PRECHAT_KEY = 'kefu:prechat:' + SCOPE;
  var STARTED_KEY = 'kefu:started:' + SCOPE;

  // The outbox (messages not yet acked) lives in localStorage so a reload resends them.
  // Other tabs of the same visitor share it: always merge with what is stored.
  function loadOutbox() {
    try {
      var raw = JSON.parse(store.get(OUTBOX_KEY) || '[]');
      return Array.isArray(raw) ? raw.filter(function (m) {
        return m && typeof m.client_msg_id === 'string' && typeof m.content === 'string';
      }) : [];
    } catch (e) { return []; }
  }

  function writeOutbox(list) {
    if (!list.length) { store.del(OUTBOX_KEY); return; }
    store.set(OUTBOX_KEY, JSON.stringify(list.map(function (m) {
      return { client_msg_id: m.client_msg_id, content: m.content, created_at: m.created_at };
    })));
  }

  // -- state -------------------------------------------------------------------------------

  var S = {
    config: null, token: null, contact: null, session: null, ready: false,
    convs: [], convStatus: {}, lastSeq: {},
    byId: {}, byCmid: {},
    outbox: loadOutbox(),
    ws: null, wsReady: false, attempts: 0, failures: 0, fallback: false, stopped: false,
    reconnectTimer: null, pingTimer: null, pongTimer: null, pollTimer: null, polling: false,
    flushing: false, renewedToken: false, needNewSession: false,
    open: false, unread: 0, typingSentAt: 0, agentTypingTimer: null, prechatShown: false,
    connBannerTimer: null
  };

  function addToOutbox(item) {
    S.outbox = S.outbox.filter(function (m) { return m.client_msg_id !== item.client_msg_id; });
    S.outbox.push(item);
    var stored = loadOutbox().filter(function (m) {
      return m.client_msg_id !== item.client_msg_id;
    });
    stored.push(item);
    writeOutbox(stored);
  }

  function dropFromOutbox(cmid) {
    S.outbox = S.outbox.filter(function (m) { return m.client_msg_id !== cmid; });
    var stored = loadOutbox();
    var kept = stored.filter(function (m) { return m.client_msg_id !== cmid; });
    if (kept.length !== stored.length) { writeOutbox(kept); }
  }

  function newClientMsgId() {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var hex = '';
    for (var i = 0; i < bytes.length; i++) { hex += ('0' + bytes[i].toString(16)).slice(-2); }
    return 'w' + Date.now().toString(36) + '-' + hex;
  }

  function charCount(text) { return Array.from(text).length; }

  // -- styles ------------------------------------------------------------------------------

  var CSS = [
    ':host{all:initial}',
    '*{box-sizing:border-box}',
    '[hidden]{display:none!important}',
    '.kefu-root{--kefu-color:#1f6feb;--kefu-color-dark:#1858c4;font-family:-apple-system,',
    'BlinkMacSystemFont,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei",',
    '"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;font-size:14px;line-height:1.5;',
    'color:#1f2328;-webkit-font-smoothing:antialiased}',
    '#kefu-launcher{position:fixed;right:24px;bottom:24px;width:60px;height:60px;',
    'border-radius:50%;border:0;padding:0;cursor:pointer;background:var(--kefu-color);',
    'color:#fff;box-shadow:0 6px 20px rgba(15,23,42,.28);display:flex;align-items:center;',
    'justify-content:center;z-index:2147483000;transition:transform .18s ease,',
    'box-shadow .18s ease}',
    '#kefu-launcher:hover{transform:translateY(-2px) scale(1.04);',
    'box-shadow:0 10px 26px rgba(15,23,42,.32)}',
    '#kefu-launcher:focus-visible{outline:3px solid rgba(31,111,235,.45);outline-offset:3px}',
    '#kefu-launcher svg{width:28px;height:28px;transition:transform .2s ease,opacity .2s ease}',
    '#kefu-launcher .kefu-icon-close{position:absolute;opacity:0;transform:rotate(-90deg)}',
    '#kefu-launcher[aria-expanded="true"] .kefu-icon-chat{opacity:0;transform:rotate(90deg)}',
    '#kefu-launcher[aria-expanded="true"] .kefu-icon-close{opacity:1;transform:none}',
    '#kefu-badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;',
    'padding:0 6px;border-radius:10px;background:#e5484d;color:#fff;font-size:12px;',
    'font-weight:600;line-height:20px;text-align:center;border:2px solid #fff}',
    '#kefu-panel{position:fixed;right:24px;bottom:98px;width:372px;',
    'height:min(620px,calc(100vh - 124px));background:#fff;border-radius:16px;',
    'box-shadow:0 16px 48px rgba(15,23,42,.24),0 2px 6px rgba(15,23,42,.08);display:flex;',
    'flex-direction:column;overflow:hidden;z-index:2147483000;opacity:0;',
    'transform:translateY(12px) scale(.98);transform-origin:bottom right;',
    'transition:opacity .18s ease,transform .18s ease}',
    '#kefu-panel.kefu-shown{opacity:1;transform:none}',
    '.kefu-header{display:flex;align-items:center;gap:12px;padding:16px 16px 14px;',
    'background:linear-gradient(135deg,var(--kefu-color),var(--kefu-color-dark));color:#fff;',
    'flex:none}',
    '.kefu-header-avatar{width:40px;height:40px;border-radius:50%;background:rgba(255,255,255,.2);',
    'display:flex;align-items:center;justify-content:center;font-size:20px;flex:none}',
    '.kefu-header-text{flex:1;min-width:0}',
    '.kefu-title{font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;',
    'text-overflow:ellipsis}',
    '.kefu-subtitle{font-size:12px;opacity:.85;display:flex;align-items:center;gap:6px}',
    '.kefu-dot{width:8px;height:8px;border-radius:50%;background:#3fd37b;',
    'box-shadow:0 0 0 2px rgba(255,255,255,.35)}',
    '.kefu-close{border:0;background:transparent;color:#fff;cursor:pointer;width:32px;',
    'height:32px;border-radius:8px;display:flex;align-items:center;justify-content:center;',
    'opacity:.85}',
    '.kefu-header-avatar svg{width:22px;height:22px}',
    '.kefu-avatar svg{width:17px;height:17px}',
    '.kefu-avatar.kefu-avatar-inbox{background:var(--kefu-color);color:#fff}',
    '.kefu-close:hover{background:rgba(255,255,255,.16);opacity:1}',
    '.kefu-close svg{width:18px;height:18px}',
    '#kefu-conn{flex:none;padding:6px 12px;font-size:12px;text-align:center;',
    'background:#fff7e0;color:#8a5a00;border-bottom:1px solid #f3e2b3}',
    '#kefu-conn.kefu-conn-error{background:#fdecec;color:#a4232a;border-color:#f5c6c8}',
    '#kefu-conn button{margin-left:8px;border:0;background:transparent;color:inherit;',
    'text-decoration:underline;cursor:pointer;font:inherit}',
    '.kefu-body{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f6f7f9;',
    'scroll-behavior:smooth;overscroll-behavior:contain}',
    '.kefu-list{display:flex;flex-direction:column;gap:10px}',
    '.kefu-row{display:flex;gap:8px;align-items:flex-end;max-width:100%}',
    '.kefu-avatar{width:30px;height:30px;border-radius:50%;background:#dfe7f5;color:#3a4a66;',
    'font-size:13px;font-weight:600;display:flex;align-items:center;justify-content:center;',
    'flex:none}',
    '.kefu-msg{display:flex;flex-direction:column;max-width:80%;animation:kefu-in .16s ease}',
    '@keyframes kefu-in{from{opacity:0;transform:translateY(4px)}to{opacity:1;transform:none}}',
    '.kefu-msg-sender{font-size:12px;color:#6b7280;margin:0 0 3px 2px}',
    '.kefu-msg-body{padding:9px 13px;border-radius:16px;white-space:pre-wrap;',
    'word-wrap:break-word;overflow-wrap:anywhere;font-size:14px}',
    '.kefu-msg-body a{color:inherit;text-decoration:underline}',
    '.kefu-msg-meta{font-size:11px;color:#8b93a1;margin-top:3px;display:flex;gap:6px;',
    'align-items:center}',
    '.kefu-msg-customer{align-self:flex-end;align-items:flex-end}',
    '.kefu-msg-customer .kefu-msg-body{background:var(--kefu-color);color:#fff;',
    'border-bottom-right-radius:5px}',
    '.kefu-msg-customer[data-state="sending"] .kefu-msg-body{opacity:.72}',
    '.kefu-msg-customer[data-state="failed"] .kefu-msg-body{background:#fbe3e4;color:#8f1d24;',
    'border:1px solid #f2b8bb}',
    '.kefu-msg-agent,.kefu-msg-bot{align-self:flex-start;align-items:flex-start;max-width:100%}',
    '.kefu-msg-agent .kefu-msg-body,.kefu-msg-bot .kefu-msg-body,.kefu-greeting .kefu-msg-body{',
    'background:#fff;color:#1f2328;border:1px solid #e6e8ec;border-bottom-left-radius:5px;',
    'box-shadow:0 1px 2px rgba(15,23,42,.04)}',
    '.kefu-msg-bot .kefu-avatar{background:#e8f5ee;color:#1b7a47}',
    '.kefu-inner{display:flex;flex-direction:column;align-items:flex-start;min-width:0;',
    'max-width:calc(100% - 38px)}',
    '.kefu-msg-agent,.kefu-msg-bot{flex-direction:row;align-items:flex-end;gap:8px}',
    '.kefu-greeting{display:flex;gap:8px;align-items:flex-end;max-width:100%}',
    '.kefu-msg-system{align-self:center;max-width:90%}',
    '.kefu-extras{display:flex;flex-direction:column;align-items:flex-start;gap:4px;',
    'margin-top:4px;max-width:100%}',
    '.kefu-extras-title{font-size:12px;color:#6b7280}',
    '.kefu-chips{display:flex;flex-wrap:wrap;gap:6px}',
    '.kefu-chip{border:1px solid #cfd8e3;background:#fff;color:#1f6feb;border-radius:14px;',
    'padding:3px 10px;font:inherit;font-size:13px;cursor:pointer;text-align:left}',
    '.kefu-chip:hover{background:#eef4ff}',
    '.kefu-feedback{display:flex;gap:6px;align-items:center;font-size:12px;color:#6b7280}',
    '.kefu-feedback button{border:1px solid #d8dde5;background:#fff;border-radius:10px;',
    'padding:1px 9px;font:inherit;font-size:12px;cursor:pointer;color:#374151}',
    '.kefu-feedback button[aria-pressed="true"]{background:#e8f5ee;border-color:#9fd3b4}',
    '.kefu-feedback button:disabled{cursor:default}',
    '.kefu-source{font-size:12px;color:#1f6feb;text-decoration:none}',
    '.kefu-source:hover{text-decoration:underline}',
    '.kefu-msg-system .kefu-msg-body{background:transparent;color:#6b7280;font-size:12px;',
    'padding:2px 8px;text-align:center}',
    '.kefu-msg-error{font-size:12px;color:#c4282f;margin-top:3px;display:flex;gap:8px;',
    'align-items:center}',
    '.kefu-retry{border:1px solid #e5a3a6;background:#fff;color:#c4282f;border-radius:10px;',
    'padding:1px 9px;font:inherit;font-size:12px;cursor:pointer}',
    '.kefu-retry:hover{background:#fdf0f0}',
    '.kefu-notice{align-self:center;display:flex;align-items:center;gap:10px;width:100%;',
    'color:#8b93a1;font-size:12px;margin:4px 0}',
    '.kefu-notice::before,.kefu-notice::after{content:"";flex:1;height:1px;background:#e3e6ea}',
    '#kefu-typing{flex:none;padding:4px 16px 6px;font-size:12px;color:#6b7280;',
    'background:#f6f7f9;display:flex;align-items:center;gap:6px}',
    '.kefu-dots{display:inline-flex;gap:3px}',
    '.kefu-dots i{width:5px;height:5px;border-radius:50%;background:#9aa3b2;',
    'animation:kefu-blink 1.2s infinite ease-in-out}',
    '.kefu-dots i:nth-child(2){animation-delay:.15s}.kefu-dots i:nth-child(3){animation-delay:.3s}',
    '@keyframes kefu-blink{0%,80%,100%{opacity:.3;transform:translateY(0)}',
    '40%{opacity:1;transform:translateY(-2px)}}',
    '#kefu-prechat{background:#fff;border:1px solid #e6e8ec;border-radius:14px;padding:14px;',
    'margin-top:4px;box-shadow:0 1px 3px rgba(15,23,42,.06)}',
    '.kefu-prechat-title{font-weight:600;font-size:14px;margin-bottom:2px}',
    '.kefu-prechat-hint{font-size:12px;color:#6b7280;margin-bottom:10px}',
    '.kefu-field{display:block;margin-bottom:10px}',
    '.kefu-field span{display:block;font-size:12px;color:#4b5563;margin-bottom:4px}',
    '.kefu-field input{width:100%;border:1px solid #d5d9e0;border-radius:9px;padding:8px 10px;',
    'font:inherit;font-size:14px;color:#1f2328;background:#fff;outline:none}',
    '.kefu-field input:focus{border-color:var(--kefu-color);',
    'box-shadow:0 0 0 3px rgba(31,111,235,.15)}',
    '.kefu-field-error{color:#c4282f;font-size:12px;margin-top:3px}',
    '.kefu-prechat-actions{display:flex;gap:8px;align-items:center}',
    '#kefu-prechat-submit{flex:1;border:0;border-radius:9px;padding:9px 12px;',
    'background:var(--kefu-color);color:#fff;font:inherit;font-weight:600;cursor:pointer}',
    '#kefu-prechat-submit:disabled{opacity:.6;cursor:default}',
    '#kefu-prechat-skip{border:0;background:transparent;color:#6b7280;font:inherit;',
    'cursor:pointer;padding:9px 10px;border-radius:9px}',
    '#kefu-prechat-skip:hover{background:#f1f3f5;color:#374151}',
    '.kefu-footer{flex:none;border-top:1px solid #eceef1;background:#fff;padding:10px 12px 8px}',
    '.kefu-compose{display:flex;align-items:flex-end;gap:8px;background:#f6f7f9;',
    'border:1px solid #e3e6ea;border-radius:14px;padding:6px 6px 6px 12px;',
    'transition:border-color .15s ease,box-shadow .15s ease}',
    '.kefu-compose:focus-within{border-color:var(--kefu-color);background:#fff;',
    'box-shadow:0 0 0 3px rgba(31,111,235,.12)}',
    '#kefu-input{flex:1;border:0;outline:none;resize:none;background:transparent;font:inherit;',
    'font-size:14px;color:#1f2328;line-height:20px;max-height:132px;min-height:32px;height:32px;',
    'padding:6px 0;margin:0}',
    '#kefu-input:disabled{cursor:not-allowed}',
    '#kefu-send{flex:none;width:36px;height:36px;border-radius:10px;border:0;cursor:pointer;',
    'background:var(--kefu-color);color:#fff;display:flex;align-items:center;',
    'justify-content:center;transition:opacity .15s ease,transform .1s ease}',
    '#kefu-send:disabled{opacity:.4;cursor:default}',
    '#kefu-send:not(:disabled):active{transform:scale(.94)}',
    '#kefu-send svg{width:18px;height:18px}',
    '.kefu-footnote{display:flex;justify-content:space-between;font-size:11px;color:#a0a7b4;',
    'margin-top:5px;padding:0 4px}',
    '.kefu-input-error{color:#c4282f}',
    '.kefu-counter.kefu-over{color:#c4282f;font-weight:600}',
    '.kefu-loading{display:flex;align-items:center;justify-content:center;gap:8px;',
    'color:#6b7280;font-size:13px;padding:24px 0}',
    '.kefu-spinner{width:16px;height:16px;border-radius:50%;border:2px solid #d5d9e0;',
    'border-top-color:var(--kefu-color);animation:kefu-spin .8s linear infinite}',
    '@keyframes kefu-spin{to{transform:rotate(360deg)}}',
    '@media (max-width:480px){#kefu-panel{right:0;bottom:0;width:100vw;height:100%;',
    'border-radius:0}#kefu-launcher{right:16px;bottom:16px}',
    '.kefu-open #kefu-launcher{display:none}}',
    '@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}'
  ].join('');

  var ICON_CHAT = '<svg class="kefu-icon-chat" viewBox="0 0 24 24" fill="none" ' +
    'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" ' +
    'aria-hidden="true"><path d="M21 11.5a8.4 8.4 0 0 1-9 8.4 9.3 9.3 0 0 1-3.9-.9L3 20.5l1.6-4.4' +
    'A8 8 0 0 1 3 11.5 8.6 8.6 0 0 1 12 3a8.6 8.6 0 0 1 9 8.5z"/></svg>';
  var ICON_CLOSE = '<svg class="kefu-icon-close" viewBox="0 0 24 24" fill="none" ' +
    'stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true">' +
    '<path d="M6 6l12 12M18 6L6 18"/></svg>';
  var ICON_HEADSET = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" ' +
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
    '<path d="M4 14v-2a8 8 0 0 1 16 0v2"/><rect x="3" y="13" width="4" height="7" rx="1.6"/>' +
    '<rect x="17" y="13" width="4" height="7" rx="1.6"/><path d="M19 20c0 1.2-2 2-5 2h-2"/></svg>';
  var ICON_BOT = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ' +
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="4" y="8" ' +
    'width="16" height="12" rx="3"/><path d="M12 4v4M9 13h.01M15 13h.01M9.5 17h5"/></svg>';
  var ICON_SEND = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" ' +
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M5 12h14M13 6l6 ' +
    '6-6 6"/></svg>';

  // -- DOM ---------------------------------------------------------------------------------

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null) { continue; }
        if (k === 'text') { el.textContent = attrs[k]; }
        else if (k === 'html') { el.innerHTML = attrs[k]; } // only our own constant SVG markup
        else if (k === 'className') { el.className = attrs[k]; }
        else if (k.slice(0, 2) === 'on') { el.addEventListener(k.slice(2), attrs[k]); }
        else { el.setAttribute(k, attrs[k]); }
      }
    }
    (children || []).forEach(function (c) { if (c) { el.appendChild(c); } });
    return el;
  }

  var host = h('div', { id: 'kefu-widget', 'data-inbox': INBOX });
  host.style.cssText = 'all:initial;position:fixed;width:0;height:0;bottom:0;right:0;' +
    'z-index:2147483000;';
  var root = host.attachShadow({ mode: 'open' });
  // A constructed stylesheet is not an inline <style>, so a host page's strict CSP
  // (style-src without 'unsafe-inline') does not block it; older browsers get a <style>.
  var sheetDone = false;
  try {
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function') {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      sheetDone = true;
    }
  } catch (e) { sheetDone = false; }
  if (!sheetDone) { root.appendChild(h('style', { text: CSS })); }

  var ui = {};
  ui.badge = h('span', { id: 'kefu-badge', hidden: '' });
  ui.launcher = h('button', {
    id: 'kefu-launcher', type: 'button', 'aria-label': T.open, title: T.open,
    'aria-expanded': 'false', 'aria-controls': 'kefu-panel', html: ICON_CHAT + ICON_CLOSE,
    onclick: function () { toggle(); }
  });
  ui.launcher.appendChild(ui.badge);
  ui.title = h('div', { className: 'kefu-title', text: T.open });
  ui.headerAvatar = h('div', { className: 'kefu-header-avatar', html: ICON_HEADSET,
                                'aria-hidden': 'true' });
  ui.header = h('div', { className: 'kefu-header' }, [
    ui.headerAvatar,
    h('div', { className: 'kefu-header-text' }, [
      ui.title,
      h('div', { className: 'kefu-subtitle' }, [
        h('span', { className: 'kefu-dot', 'aria-hidden': 'true' }),
        h('span', { text: T.subtitle })
      ])
    ]),
    h('button', { className: 'kefu-close', type: 'button', 'aria-label': T.close, title: T.close,
                  html: ICON_CLOSE.replace('class="kefu-icon-close" ', ''),
                  onclick: function () { setOpen(false); } })
  ]);
  ui.conn = h('div', { id: 'kefu-conn', role: 'status', hidden: '' });
  ui.list = h('div', { className: 'kefu-list', role: 'log', 'aria-live': 'polite' });
  ui.loading = h('div', { className: 'kefu-loading' }, [
    h('span', { className: 'kefu-spinner' }), h('span', { text: T.connecting })
  ]);
  ui.body = h('div', { className: 'kefu-body' }, [ui.list, ui.loading]);
  ui.typing = h('div', { id: 'kefu-typing', hidden: '', 'aria-live': 'polite' }, [
    h('span', { className: 'kefu-dots', 'aria-hidden': 'true' },
      [h('i'), h('i'), h('i')]),
    h('span', { text: T.agentTyping })
  ]);
  ui.input = h('textarea', {
    id: 'kefu-input', rows: '1', placeholder: T.placeholder, 'aria-label': T.placeholder,
    disabled: '', maxlength: String(MAX_CHARS * 2)
  });
  ui.send = h('button', { id: 'kefu-send', type: 'button', 'aria-label': T.send, title: T.send,
                          html: ICON_SEND, disabled: '' });
  ui.inputError = h('span', { className: 'kefu-input-error', role: 'alert' });
  ui.counter = h('span', { className: 'kefu-counter' });
  ui.footer = h('div', { className: 'kefu-footer' }, [
    h('div', { className: 'kefu-compose' }, [ui.input, ui.send]),
    h('div', { className: 'kefu-footnote' }, [ui.inputError, ui.counter])
  ]);
  ui.panel = h('div', { id: 'kefu-panel', role: 'dialog', 'aria-label': T.open, hidden: '',
                        'data-transport': 'none', lang: LANG },
               [ui.header, ui.conn, ui.body, ui.typing, ui.footer]);
  ui.root = h('div', { className: 'kefu-root' }, [ui.panel, ui.launcher]);
  root.appendChild(ui.root);

  function mount() { (document.body || document.documentElement).appendChild(host); }
  if (document.body) { mount(); } else { document.addEventListener('DOMContentLoaded', mount); }

  // -- colours -----------------------------------------------------------------------------

  function darker(hex) {
    var m = /^#([0-9a-f]{6})$/i.exec(hex || '');
    if (!m) { return '#1858c4'; }
    var n = parseInt(m[1], 16);
    var r = Math.round(((n >> 16) & 255) * 0.78);
    var g = Math.round(((n >> 8) & 255) * 0.78);
    var b = Math.round((n & 255) * 0.78);
    return '#' + ((1 << 24) + (r << 16) + (g << 8) + b).toString(16).slice(1);
  }

  function applyConfig(cfg) {
    if (!cfg) { return; }
    S.config = cfg;
    if (cfg.name) {
      ui.title.textContent = cfg.name;
      ui.panel.setAttribute('aria-label', cfg.name);
    }
    if (/^#[0-9a-f]{6}$/i.test(cfg.color || '')) {
      ui.root.style.setProperty('--kefu-color', cfg.color);
      ui.root.style.setProperty('--kefu-color-dark', darker(cfg.color));
    }
    renderGreeting();
  }

  // -- message list ------------------------------------------------------------------------

  var KEY_SPAN = 1e7;
  var KEY_PENDING = Number.MAX_SAFE_INTEGER;

  function noteConv(id) {
    if (id && S.convs.indexOf(id) < 0) { S.convs.push(id); }
  }
  function latestConv() { return S.convs.length ? S.convs[S.convs.length - 1] : null; }
  function keyFor(conv, seq) {
    noteConv(conv);
    return (S.convs.indexOf(conv) + 1) * KEY_SPAN + (seq || 0);
  }

  function nearBottom() {
    return ui.body.scrollHeight - ui.body.scrollTop - ui.body.clientHeight < 80;
  }
  function scrollToBottom() { ui.body.scrollTop = ui.body.scrollHeight; }

  function place(el, key) {
    el.__kefuKey = key;
    if (el.parentNode) { el.parentNode.removeChild(el); }
    var children = ui.list.children;
    for (var i = children.length - 1; i >= 0; i--) {
      if (children[i].__kefuKey <= key) {
        ui.list.insertBefore(el, children[i].nextSibling);
        return;
      }
    }
    ui.list.insertBefore(el, ui.list.firstChild);
  }

  function insert(el, key, forceScroll) {
    var stick = forceScroll || nearBottom();
    place(el, key);
    if (stick) { scrollToBottom(); }
  }

  var URL_RE = /\bhttps?:\/\/[^\s<>"'，。！？、；：（）【】]+/g;

  // Text only (never HTML); http(s) links become <a> elements.
  function fillText(el, text) {
    el.textContent = '';
    var last = 0;
    var m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text)) !== null) {
      var url = m[0].replace(/[.,;:!?)\]}'"]+$/, '');
      if (url.length < 10) { continue; }
      if (m.index > last) { el.appendChild(document.createTextNode(text.slice(last, m.index))); }
      el.appendChild(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow',
                              text: url }));
      last = m.index + url.length;
    }
    if (last < text.length) { el.appendChild(document.createTextNode(text.slice(last))); }
  }

  function timeText(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) { d = new Date(); }
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    var hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    var now = new Date();
    if (d.toDateString() === now.toDateString()) { return hm; }
    return (d.getMonth() + 1) + '/' + d.getDate() + ' ' + hm;
  }

  function initial(name) {
    var chars = Array.from((name || '').trim());
    return chars.length ? chars[0].toUpperCase() : '客';
  }

  function buildMessage(m) {
    var kind = m.sender_type === 'customer' ? 'customer'
      : m.sender_type === 'bot' ? 'bot' : m.sender_type === 'system' ? 'system' : 'agent';
    var el = h('div', { className: 'kefu-msg kefu-msg-' + kind,
                        'data-seq': m.seq ? String(m.seq) : '',
                        'data-id': m.id || null, 'data-conversation-id': m.conversation_id || null,
                        'data-client-msg-id': m.client_msg_id || null });
    var body = h('div', { className: 'kefu-msg-body' });
    fillText(body, m.content || '');
    var meta = h('div', { className: 'kefu-msg-meta' }, [
      h('span', { className: 'kefu-msg-time', text: timeText(m.created_at) })
    ]);
    var entry = { el: el, body: body, meta: meta, id: m.id || null, cmid: m.client_msg_id || null,
                  conv: m.conversation_id || null, seq: m.seq || null, kind: kind, state: null,
                  content: m.content || '' };
    if (kind === 'agent' || kind === 'bot') {
      var name = m.sender_name || (kind === 'bot' ? T.bot : T.agent);
      el.appendChild(kind === 'bot'
        ? h('div', { className: 'kefu-avatar', html: ICON_BOT, 'aria-hidden': 'true' })
        : h('div', { className: 'kefu-avatar', text: initial(name), 'aria-hidden': 'true' }));
      el.appendChild(h('div', { className: 'kefu-inner' }, [
        h('div', { className: 'kefu-msg-sender', text: name }), body,
        kind === 'bot' ? botExtras(m.meta) : null, meta
      ]));
    } else if (kind === 'system') {
      el.appendChild(body);
    } else {
      el.appendChild(body);
      el.appendChild(meta);
      entry.status = h('span', { className: 'kefu-msg-status' });
      meta.appendChild(entry.status);
    }
    return entry;
  }

  // The bot's structured extras: options to click, related questions, 有用/没用, 转人工.
  // Built from text nodes only: the server's strings are never parsed as HTML.
  function chips(items, title) {
    if (!items || !items.length) { return null; }
    return h('div', { className: 'kefu-extras' }, [
      title ? h('div', { className: 'kefu-extras-title', text: title }) : null,
      h('div', { className: 'kefu-chips' }, items.map(function (it) {
        return h('button', { className: 'kefu-chip', type: 'button', text: it.label,
                             onclick: function () { sendText(it.send); } });
      }))
    ]);
  }

  function feedbackBar(turnId) {
    var state = h('span', { className: 'kefu-feedback-state' });
    var bar = h('div', { className: 'kefu-feedback', 'data-turn-id': turnId });
    function setBusy(busy) {
      Array.prototype.forEach.call(bar.querySelectorAll('button'), function (b) { b.disabled = busy; });
    }
    function rate(helpful, btn) {
      setBusy(true);  // one click, one request
      api('POST', '/feedback', { turn_id: turnId, helpful: helpful }).then(function (data) {
        setBusy(false);
        Array.prototype.forEach.call(bar.querySelectorAll('button'), function (b) {
          b.setAttribute('aria-pressed', b === btn ? 'true' : 'false');
        });
        state.textContent = helpful && data && data.message ? String(data.message) : T.thanks;
      }, function (err) { setBusy(false); state.textContent = localize(err.message); });
    }
    var yes = h('button', { type: 'button', text: T.helpful, 'aria-pressed': 'false',
                            onclick: function () { rate(true, yes); } });
    var no = h('button', { type: 'button', text: T.unhelpful, 'aria-pressed': 'false',
                           onclick: function () { rate(false, no); } });
    bar.appendChild(yes);
    bar.appendChild(no);
    bar.appendChild(state);
    return bar;
  }

  function botExtras(meta) {
    if (!meta || typeof meta !== 'object') { return null; }
    var box = h('div', { className: 'kefu-extras' });
    var q = function (o) { return { label: String(o.question || ''), send: String(o.question || '') }; };
    if (meta.kind === 'clarify') { box.appendChild(chips((meta.options || []).map(q))); }
    if (meta.related && meta.related.length) {
      box.appendChild(chips(meta.related.map(q), T.related));
    }
    if (meta.actions && meta.actions.indexOf('handoff') >= 0) {
      box.appendChild(chips([{ label: T.human, send: T.humanText }]));
    }
    if (meta.kind === 'passage' && meta.document_id) {
      box.appendChild(h('a', { className: 'kefu-source', target: '_blank', rel: 'noopener',
        href: BASE + '/help/' + encodeURIComponent(INBOX) + '/articles/' +
              encodeURIComponent(String(meta.document_id)),
        text: T.source + (meta.title ? '：' + String(meta.title) : '') }));
    }
    if (meta.feedback && meta.turn_id) { box.appendChild(feedbackBar(String(meta.turn_id))); }
    return box.childNodes.length ? box : null;
  }

  function loadSuggestions() {
    if (!S.config || !S.config.bot || ui.suggestions) { return; }
    var ctx = {};
    try { ctx = JSON.parse(script.getAttribute('data-context') || '{}') || {}; } catch (e) { ctx = {}; }
    var clean = {};
    Object.keys(ctx).slice(0, 20).forEach(function (k) { clean[k] = String(ctx[k]).slice(0, 100); });
    api('POST', '/suggestions', { page_url: String(window.location.href).slice(0, 2000),
                                  context: clean }).then(function (data) {
      var items = (data.questions || []).map(function (o) {
        return { label: String(o.question), send: String(o.question) };
      });
      if (!items.length || !ui.greeting || ui.suggestions) { return; }
      ui.suggestions = chips(items, T.guess);
      ui.greeting.querySelector('.kefu-inner').appendChild(ui.suggestions);
    }, function () { /* optional: the greeting stands alone */ });
  }

  function setState(entry, state) {
    entry.state = state;
    entry.el.setAttribute('data-state', state);
    if (entry.status) {
      entry.status.textContent = state === 'sending' ? T.sending
        : state === 'sent' ? '✓ ' + T.sent : T.failed;
    }
    if (state !== 'failed' && entry.errorEl) {
      entry.errorEl.parentNode.removeChild(entry.errorEl);
      entry.errorEl = null;
    }
  }

  function register(entry) {
    if (entry.id) { S.byId[entry.id] = entry; }
    if (entry.cmid) { S.byCmid[entry.cmid] = entry; }
  }

  function confirmEntry(entry, id, seq, conv) {
    dropFromOutbox(entry.cmid);
    if (entry.id) { return; }
    entry.id = id;
    entry.seq = seq;
    entry.conv = conv;
    S.byId[id] = entry;
    entry.el.setAttribute('data-seq', String(seq));
    entry.el.setAttribute('data-id', id);
    entry.el.setAttribute('data-conversation-id', conv);
    setState(entry, 'sent');
    var stick = nearBottom();
    place(entry.el, keyFor(conv, seq));
    if (stick) { scrollToBottom(); }
  }

  function addServerMessage(m, live) {
    if (!m || !m.id || !m.conversation_id) { return; }
    noteConv(m.conversation_id);
    if ((m.seq || 0) > (S.lastSeq[m.conversation_id] || 0)) {
      S.lastSeq[m.conversation_id] = m.seq;
    }
    if (S.byId[m.id]) { return; }
    var own = m.sender_type === 'customer' && m.client_msg_id ? S.byCmid[m.client_msg_id] : null;
    if (own) { confirmEntry(own, m.id, m.seq, m.conversation_id); return; }
    var entry = buildMessage(m);
    if (entry.kind === 'customer') { setState(entry, 'sent'); }
    register(entry);
    insert(entry.el, keyFor(m.conversation_id, m.seq), false);
    if (entry.kind === 'agent' || entry.kind === 'bot') {
      showAgentTyping(false);
      if (live && (!S.open || document.hidden)) { bumpUnread(); }
    }
  }

  function addPending(item) {
    var existing = S.byCmid[item.client_msg_id];
    if (existing) { return existing; }
    var entry = buildMessage({ sender_type: 'customer', content: item.content,
                               client_msg_id: item.client_msg_id, created_at: item.created_at });
    setState(entry, 'sending');
    register(entry);
    insert(entry.el, KEY_PENDING, true);
    return entry;
  }

  function markFailed(entry, message) {
    setState(entry, 'failed');
    if (entry.errorEl) { entry.errorEl.parentNode.removeChild(entry.errorEl); }
    var retry = h('button', { className: 'kefu-retry', type: 'button', text: T.retry,
                              onclick: function () { retrySend(entry); } });
    entry.errorEl = h('div', { className: 'kefu-msg-error', role: 'alert' }, [
      h('span', { text: localize(message) || T.failed }), retry
    ]);
    entry.el.appendChild(entry.errorEl);
    if (nearBottom()) { scrollToBottom(); }
  }

  function retrySend(entry) {
    if (entry.id) { return; }
    var item = { client_msg_id: entry.cmid, content: entry.content,
                 created_at: new Date().toISOString() };
    addToOutbox(item);
    setState(entry, 'sending');
    dispatch(item);
  }

  function renderGreeting() {
    var text = S.config && S.config.greeting;
    if (!text) { return; }
    if (!ui.greeting) {
      ui.greetingBody = h('div', { className: 'kefu-msg-body' });
      ui.greeting = h('div', { className: 'kefu-greeting' }, [
        h('div', { className: 'kefu-avatar kefu-avatar-inbox', html: ICON_HEADSET,
                     'aria-hidden': 'true' }),
        h('div', { className: 'kefu-inner' }, [
          h('div', { className: 'kefu-msg-sender',
                     text: (S.config.bot && S.config.bot_name) || S.config.name || T.agent }),
          ui.greetingBody
        ])
      ]);
      place(ui.greeting, 0);
    }
    fillText(ui.greetingBody, text);
  }

  function updateConv(c) {
    if (!c || !c.id) { return; }
    noteConv(c.id);
    S.convStatus[c.id] = c.status;
    var id = 'kefu-ended-' + c.id;
    var existing = null;
    for (var i = 0; i < ui.list.children.length; i++) {
      if (ui.list.children[i].getAttribute('data-ended-for') === c.id) {
        existing = ui.list.children[i];
      }
    }
    if (c.status === 'resolved') {
      if (!existing) {
        var el = h('div', { className: 'kefu-notice kefu-ended', 'data-ended-for': c.id, id: id,
                            text: T.ended });
        insert(el, keyFor(c.id, KEY_SPAN - 1), false);
      }
    } else if (existing) {
      existing.parentNode.removeChild(existing);
    }
  }

  function bumpUnread() {
    S.unread += 1;
    ui.badge.textContent = S.unread > 99 ? '99+' : String(S.unread);
    ui.badge.removeAttribute('hidden');
    ui.launcher.setAttribute('aria-label', T.open + ' (' + S.unread + ' ' + T.newMessages + ')');
  }

  function clearUnread() {
    S.unread = 0;
    ui.badge.setAttribute('hidden', '');
    ui.launcher.setAttribute('aria-label', T.open);
  }

  function showAgentTyping(on) {
    clearTimeout(S.agentTypingTimer);
    if (on) {
      var stick = nearBottom();
      ui.typing.removeAttribute('hidden');
      if (stick) { scrollToBottom(); }
      S.agentTypingTimer = setTimeout(function () { showAgentTyping(false); }, AGENT_TYPING_MS);
    } else {
      ui.typing.setAttribute('hidden', '');
    }
  }

  function connBanner(text, isError, action) {
    clearTimeout(S.connBannerTimer);
    if (!text) { ui.conn.setAttribute('hidden', ''); return; }
    ui.conn.textContent = localize(text);
    ui.conn.className = isError ? 'kefu-conn-error' : '';
    if (action) {
      ui.conn.appendChild(h('button', { type: 'button', text: action.label, onclick: action.run }));
    }
    ui.conn.removeAttribute('hidden');
  }

  function setTransport(mode) { ui.panel.setAttribute('data-transport', mode); }

  // -- HTTP --------------------------------------------------------------------------------

  function api(method, path, body) {
    var headers = {};
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; }
    if (S.token) { headers.Authorization = 'Visitor ' + S.token; }
    return fetch(BASE + '/api/v1/webchat/' + encodeURIComponent(INBOX) + path, {
      method: method, headers: headers, credentials: 'omit', mode: 'cors', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var e = (data && data.error) || {};
          var err = new Error(e.message || 'HTTP ' + r.status);
          err.status = r.status;
          err.code = e.code || '';
          err.details = e.details || {};
          throw err;
        }
        return data;
      });
    });
  }

  function permanentHttpError(err) {
    return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429 &&
      !TOKEN_ERRORS[err.code];
  }

  // -- session -----------------------------------------------------------------------------

  function startSession() {
    if (S.session) { return S.session; }
    var body = { page_url: String(window.location.href).slice(0, 2000) };
    var token = USER_ID ? null : store.get(TOKEN_KEY);
    if (USER_ID) {
      body.user_id = USER_ID;
      body.user_hash = USER_HASH;
      if (NAME) { body.name = NAME; }
    } else if (token) {
      body.token = token;
    } else if (NAME) {
      body.name = NAME;
    }
    S.session = api('POST', '/sessions', body).then(onSession, function (err) {
      S.session = null;
      if (token && TOKEN_ERRORS[err.code] && !S.renewedToken) {
        S.renewedToken = true;
        store.del(TOKEN_KEY);
        return startSession();
      }
      ui.loading.setAttribute('hidden', '');
      var denied = err.code === 'origin_not_allowed';
      connBanner(denied ? T.originDenied : T.loadFailed + (err.status ? '' : ' — ' + T.offline),
                 true, denied ? null : { label: T.reload, run: function () {
                   connBanner(null); ui.loading.removeAttribute('hidden'); startSession();
                 } });
      return null;
    });
    return S.session;
  }

  function onSession(data) {
    S.token = data.token;
    if (USER_ID) { store.set(STARTED_KEY, '1'); } else { store.set(TOKEN_KEY, data.token); }
    S.contact = data.contact || {};
    applyConfig(data.inbox);
    (data.conversations || []).forEach(function (c) { noteConv(c.id); });
    (data.messages || []).forEach(function (m) { addServerMessage(m, false); });
    (data.conversations || []).forEach(updateConv);
    // Unacked messages from an earlier page: show them and send them again.
    S.outbox.slice().forEach(function (item) {
      var known = S.byCmid[item.client_msg_id];
      if (known && known.id) { dropFromOutbox(item.client_msg_id); } else { addPending(item); }
    });
    ui.loading.setAttribute('hidden', '');
    S.ready = true;
    maybePrechat(data.messages || []);
    loadSuggestions();
    updateComposer();
    scrollToBottom();
    connect();
    return data;
  }

  // -- pre-chat form -----------------------------------------------------------------------

  function prechatFields() {
    var cfg = S.config || {};
    if (!cfg.prechat_enabled) { return []; }
    return (cfg.prechat_fields || []).filter(function (f) {
      return f === 'name' || f === 'phone' || f === 'email';
    });
  }

  function maybePrechat(history) {
    var fields = prechatFields();
    if (!fields.length) { return; }
    var required = !!S.config.prechat_required;
    var missing = fields.filter(function (f) { return !(S.contact && S.contact[f]); });
    if (!missing.length) { return; }
    var hasOwn = history.some(function (m) { return m.sender_type === 'customer'; });
    if (!required && (store.get(PRECHAT_KEY) || hasOwn || S.outbox.length)) { return; }
    showPrechat(missing, required);
  }

  function showPrechat(fields, required) {
    if (S.prechatShown) { return; }
    fields = fields || prechatFields();
    if (!fields.length) { return; }
    S.prechatShown = true;
    var inputs = {};
    var errors = {};
    var rows = fields.map(function (f) {
      var type = f === 'email' ? 'email' : f === 'phone' ? 'tel' : 'text';
      inputs[f] = h('input', {
        name: f, type: type, autocomplete: f === 'phone' ? 'tel' : f,
        maxlength: f === 'phone' ? '40' : f === 'email' ? '254' : '120',
        inputmode: f === 'phone' ? 'tel' : null
      });
      if (f === 'name' && S.contact && S.contact.name) { inputs[f].value = S.contact.name; }
      errors[f] = h('div', { className: 'kefu-field-error', hidden: '' });
      return h('label', { className: 'kefu-field' },
               [h('span', { text: T[f] }), inputs[f], errors[f]]);
    });
    var submit = h('button', { id: 'kefu-prechat-submit', type: 'submit', text: T.start });
    var skip = required ? null : h('button', {
      id: 'kefu-prechat-skip', type: 'button', text: T.skip,
      onclick: function () { store.set(PRECHAT_KEY, 'skipped'); closePrechat(); }
    });
    var form = h('form', { id: 'kefu-prechat', novalidate: '' }, [
      h('div', { className: 'kefu-prechat-title', text: T.prechatTitle }),
      h('div', { className: 'kefu-prechat-hint', text: T.prechatHint })
    ].concat(rows, [h('div', { className: 'kefu-prechat-actions' }, [submit, skip])]));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var data = {};
      var ok = true;
      fields.forEach(function (f) {
        var v = inputs[f].value.trim();
        var msg = '';
        if (!v && required) { msg = T.required; }
        else if (v && f === 'phone' && !/^[0-9+\- ()]{5,40}$/.test(v)) { msg = T.badPhone; }
        else if (v && f === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) { msg = T.badEmail; }
        errors[f].textContent = msg;
        if (msg) {
          errors[f].removeAttribute('hidden');
          ok = false;
        } else {
          errors[f].setAttribute('hidden', '');
        }
        if (v) { data[f] = v; }
      });
      if (!ok) { return; }
      if (!Object.keys(data).length) {
        store.set(PRECHAT_KEY, 'skipped');
        closePrechat();
        return;
      }
      submit.disabled = true;
      submit.textContent = T.saving;
      api('PATCH', '/contact', data).then(function (contact) {
        S.contact = contact;
        store.set(PRECHAT_KEY, 'done');
        closePrechat();
      }, function (err) {
        submit.disabled = false;
        submit.textContent = T.start;
        var fieldErrs = (err.details && err.details.fields) || [];
        var shown = false;
        fieldErrs.forEach(function (fe) {
          var name = fe.loc && fe.loc[fe.loc.length - 1];
          if (errors[name]) {
            errors[name].textContent = name === 'phone' ? T.badPhone
              : name === 'email' ? T.badEmail : localize(err.message);
            errors[name].removeAttribute('hidden');
            shown = true;
          }
        });
        if (!shown) { connBanner(err.message, true); }
      });
    });
    ui.prechat = h('div', { className: 'kefu-prechat-wrap' }, [form]);
    insert(ui.prechat, KEY_PENDING - 1, true);
    updateComposer();
    setTimeout(function () { if (S.open && inputs[fields[0]]) { inputs[fields[0]].focus(); } }, 50);
  }

  function closePrechat() {
    if (ui.prechat && ui.prechat.parentNode) { ui.prechat.parentNode.removeChild(ui.prechat); }
    ui.prechat = null;
    S.prechatShown = false;
    connBanner(null);
    updateComposer();
    if (S.open) { ui.input.focus(); }
  }

  // -- composer ----------------------------------------------------------------------------

  function updateComposer() {
    var blocked = !S.ready || S.prechatShown;
    ui.input.disabled = blocked;
    ui.input.placeholder = S.prechatShown ? T.prechatPending : T.placeholder;
    var text = ui.input.value;
    var n = charCount(text);
    ui.send.disabled = blocked || !text.trim();
    ui.counter.textContent = n > MAX_CHARS - 500 ? n + ' / ' + MAX_CHARS : '';
    ui.counter.className = 'kefu-counter' + (n > MAX_CHARS ? ' kefu-over' : '');
    if (n <= MAX_CHARS && ui.inputError.textContent === T.tooLong) {
      ui.inputError.textContent = '';
    }
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(132, Math.max(32, ui.input.scrollHeight)) + 'px';
  }

  function submitInput() {
    if (ui.input.disabled) { return; }
    var text = ui.input.value.replace(/^\s+|\s+$/g, '');
    if (!text) { return; }
    if (charCount(text) > MAX_CHARS) {
      ui.inputError.textContent = T.tooLong;
      return;
    }
    ui.inputError.textContent = '';
    ui.input.value = '';
    updateComposer();
    sendText(text);
    ui.input.focus();
  }

  function sendText(text) {
    var item = { client_msg_id: newClientMsgId(), content: text,
                 created_at: new Date().toISOString() };
    addToOutbox(item);
    addPending(item);
    if (S.typingSentAt) { sendFrame({ type: 'typing', on: false, conversation_id: latestConv() }); }
    S.typingSentAt = 0;
    dispatch(item);
  }

  function dispatch(item) {
    if (S.wsReady) {
      sendFrame({ type: 'message', client_msg_id: item.client_msg_id, content: item.content });
    } else if (S.fallback) {
      flushOutboxHttp();
    } else if (S.token && !S.ws) {
      connect();
    }
    // otherwise: it stays in the outbox and goes out when the socket says hello
  }

  ui.send.addEventListener('click', submitInput);
  ui.input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      submitInput();
    }
  });
  ui.input.addEventListener('input', function () {
    updateComposer();
    var now = Date.now();
    if (ui.input.value.trim() && S.wsReady && now - S.typingSentAt >= TYPING_THROTTLE_MS) {
      S.typingSentAt = now;
      sendFrame({ type: 'typing', on: true, conversation_id: latestConv() });
    }
  });

  // -- WebSocket ---------------------------------------------------------------------------

  function sendFrame(frame) {
    if (frame.conversation_id === null) { delete frame.conversation_id; }
    if (!S.ws || !S.wsReady) { return false; }
    try { S.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  function connect() {
    if (!S.token || S.ws || S.stopped) { return; }
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    var url = BASE.replace(/^http/, 'ws') + '/ws/webchat?token=' + encodeURIComponent(S.token) +
      '&inbox=' + encodeURIComponent(INBOX);
    var ws;
    try { ws = new window.WebSocket(url); } catch (e) { onSocketGone(null, 1006); return; }
    S.ws = ws;
    S.wsHello = false;
    if (!S.fallback) { setTransport('connecting'); }
    ws.onmessage = function (ev) {
      if (S.ws !== ws) { return; }
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame === 'object') { onFrame(frame); }
    };
    ws.onclose = function (ev) { if (S.ws === ws) { onSocketGone(ws, ev && ev.code); } };
    ws.onerror = function () { /* onclose follows */ };
  }

  function dropSocket(code) {
    var ws = S.ws;
    if (!ws) { return; }
    try { ws.close(); } catch (e) { /* ignore */ }
    onSocketGone(ws, code);
  }

  function onSocketGone(ws, code) {
    var hadHello = S.wsHello;
    S.ws = null;
    S.wsReady = false;
    S.wsHello = false;
    stopPing();
    if (S.stopped) { return; }
    if (code === 4403) {
      S.stopped = true;
      setTransport('none');
      connBanner(T.originDenied, true);
      return;
    }
    if (S.needNewSession) {
      // The server refused our visitor token (expired, or the server's key changed):
      // start over once with a fresh session.
      S.needNewSession = false;
      if (!S.renewedToken) {
        S.renewedToken = true;
        if (!USER_ID) { store.del(TOKEN_KEY); }
        S.token = null;
        S.session = null;
        startSession();
        return;
      }
    }
    if (!hadHello) { S.failures += 1; }
    if (S.failures >= FAILS_BEFORE_FALLBACK) { enterFallback(); }
    if (!S.fallback) {
      setTransport('reconnecting');
      clearTimeout(S.connBannerTimer);
      S.connBannerTimer = setTimeout(function () {
        if (!S.wsReady && !S.fallback) { connBanner(T.reconnecting, false); }
      }, 1500);
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (S.reconnectTimer || S.stopped) { return; }
    var delay;
    if (S.fallback) {
      delay = FALLBACK_WS_RETRY_MS * (0.75 + Math.random() * 0.5);
    } else {
      var exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, S.attempts));
      delay = exp * (0.5 + Math.random());  // full jitter around the exponential step
    }
    S.attempts += 1;
    S.reconnectTimer = setTimeout(function () { S.reconnectTimer = null; connect(); }, delay);
  }

  function reconnectNow() {
    if (S.stopped || !S.token || S.ws) { return; }
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    S.attempts = 0;
    connect();
  }

  function startPing() {
    stopPing();
    S.pingTimer = setInterval(function () {
      if (!sendFrame({ type: 'ping' })) { return; }
      clearTimeout(S.pongTimer);
      S.pongTimer = setTimeout(function () { dropSocket(1006); }, PONG_TIMEOUT_MS);
    }, PING_MS);
  }

  function stopPing() {
    clearInterval(S.pingTimer);
    clearTimeout(S.pongTimer);
    S.pingTimer = null;
    S.pongTimer = null;
  }

  function onHello(f) {
    S.wsHello = true;
    S.wsReady = true;
    S.failures = 0;
    S.attempts = 0;
    leaveFallback();
    setTransport('ws');
    connBanner(null);
    var convs = f.conversations || [];
    convs.forEach(updateConv);
    // Ask for what we missed: from the oldest conversation that moved past what we have.
    var target = null;
    for (var i = 0; i < convs.length; i++) {
      if ((convs[i].last_seq || 0) > (S.lastSeq[convs[i].id] || 0)) { target = convs[i]; break; }
    }
    if (!target && convs.length) { target = convs[convs.length - 1]; }
    if (target) {
      sendFrame({ type: 'resume', conversation_id: target.id,
                  after_seq: S.lastSeq[target.id] || 0 });
    }
    S.outbox.forEach(function (item) {
      sendFrame({ type: 'message', client_msg_id: item.client_msg_id, content: item.content });
    });
    startPing();
  }

  function onAck(f) {
    if (!f || !f.client_msg_id) { return; }
    var entry = S.byCmid[f.client_msg_id];
    dropFromOutbox(f.client_msg_id);
    if (f.conversation_id) { noteConv(f.conversation_id); }
    if (entry && f.id) { confirmEntry(entry, f.id, f.seq, f.conversation_id); }
  }

  function onError(f) {
    var entry = f.ref ? S.byCmid[f.ref] : null;
    if (entry && !entry.id) {
      dropFromOutbox(f.ref);
      markFailed(entry, f.message);
      if (f.code === 'prechat_required') { showPrechat(null, true); }
      return;
    }
    if (TOKEN_ERRORS[f.code]) { S.needNewSession = true; return; }
    if (f.message) {
      connBanner(f.message, true);
      S.connBannerTimer = setTimeout(function () { connBanner(null); }, 5000);
    }
  }

  function onFrame(f) {
    clearTimeout(S.pongTimer);
    switch (f.type) {
      case 'hello': onHello(f); break;
      case 'ack': onAck(f); break;
      case 'message': addServerMessage(f.message, true); break;
      case 'messages':
        (f.messages || []).forEach(function (m) { addServerMessage(m, true); });
        (f.conversations || []).forEach(updateConv);
        break;
      case 'conversation': updateConv(f.conversation); break;
      case 'typing': if (f.sender_type === 'agent') { showAgentTyping(!!f.on); } break;
      case 'error': onError(f); break;
      default: break; // pong and future frame types
    }
  }

  // -- HTTP fallback -----------------------------------------------------------------------

  function enterFallback() {
    if (S.fallback) { return; }
    S.fallback = true;
    setTransport('http');
    connBanner(null);
    S.attempts = 0;
    poll();
    S.pollTimer = setInterval(poll, POLL_MS);
  }

  function leaveFallback() {
    if (!S.fallback) { return; }
    S.fallback = false;
    clearInterval(S.pollTimer);
    S.pollTimer = null;
  }

  function flushOutboxHttp() {
    if (S.flushing) { S.flushAgain = true; return Promise.resolve(); }
    S.flushing = true;
    S.flushAgain = false;
    var queue = S.outbox.slice();
    var next = function () {
      var item = queue.shift();
      if (!item || !S.fallback) { return Promise.resolve(); }
      return api('POST', '/messages', { content: item.content, client_msg_id: item.client_msg_id })
        .then(function (ack) { onAck(ack); return next(); }, function (err) {
          if (permanentHttpError(err)) {
            var entry = S.byCmid[item.client_msg_id];
            dropFromOutbox(item.client_msg_id);
            if (entry && !entry.id) { markFailed(entry, err.message); }
            if (err.code === 'prechat_required') { showPrechat(null, true); }
            return next();
          }
          return null; // network or server trouble: keep the rest for the next tick
        });
    };
    var done = function (sent) {
      S.flushing = false;
      // Something was queued while we were busy: go again (unless the server is unreachable).
      if (sent !== null && S.flushAgain && S.outbox.length) { flushOutboxHttp(); }
    };
    return next().then(done, function () { done(null); });
  }

  function poll() {
    if (S.polling || !S.token) { return; }
    S.polling = true;
    var conv = latestConv();
    var q = conv
      ? '?conversation_id=' + encodeURIComponent(conv) + '&after_seq=' + (S.lastSeq[conv] || 0)
      : '?after_seq=0';
    flushOutboxHttp().then(function () {
      return api('GET', '/messages' + q);
    }).then(function (data) {
      S.polling = false;
      if (S.fallback) { connBanner(null); }
      onFrame({ type: 'messages', messages: data.messages, conversations: data.conversations });
    }, function (err) {
      S.polling = false;
      if (TOKEN_ERRORS[err.code]) { S.needNewSession = true; return; }
      if (S.fallback && !err.status) { connBanner(T.reconnecting, false); }
    });
  }

  // -- open / close ------------------------------------------------------------------------

  function setOpen(open) {
    if (open === S.open) { return; }
    S.open = open;
    ui.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    ui.root.classList.toggle('kefu-open', open);
    if (open) {
      ui.panel.removeAttribute('hidden');
      window.requestAnimationFrame(function () { ui.panel.classList.add('kefu-shown'); });
      clearUnread();
      startSession();
      scrollToBottom();
      setTimeout(function () { if (S.open && !ui.input.disabled) { ui.input.focus(); } }, 60);
    } else {
      ui.panel.classList.remove('kefu-shown');
      ui.panel.setAttribute('hidden', '');
      ui.launcher.focus();
    }
  }

  function toggle() { setOpen(!S.open); }

  ui.panel.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') { setOpen(false); }
  });
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { reconnectNow(); }
  });

  // A returning visitor (or one with messages still to send) reconnects at once, so replies
  // and unsent messages are not left waiting until the panel is opened.
  if (S.outbox.length || (USER_ID ? store.get(STARTED_KEY) : store.get(TOKEN_KEY))) {
    startSession();
  } else {
    api('GET', '/config').then(applyConfig, function () { /* shown when opened */ });
  }

  // A small API for host pages: window.kefu.open() / close() / toggle().
  var pub = window.kefu = window.kefu || {};
  pub.open = function () { setOpen(true); };
  pub.close = function () { setOpen(false); };
  pub.toggle = toggle;
})();
