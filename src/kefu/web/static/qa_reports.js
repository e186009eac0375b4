/* kefu QA reports: inline SVG charts (no libraries) drawn from #qa-report-data, and the
 * drill-down loaded in place. Every mark is a link (keyboard-focusable); without script the
 * same links reload the page with the drill-down open. */
(function () {
  'use strict';

  var NS = 'http://www.w3.org/2000/svg';
  var dataEl = document.getElementById('qa-report-data');
  if (!dataEl) return;
  var DATA;
  try { DATA = JSON.parse(dataEl.textContent || '{}'); } catch (e) { return; }
  var S = DATA.strings || {};

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls, anchor) {
    var node = el('text', { x: x, y: y, 'class': cls || 'qa-ax', 'text-anchor': anchor || 'start' },
                  parent);
    node.textContent = value;
    return node;
  }

  function link(parent, href, title) {
    var a = el('a', { href: href, 'data-drill': '' }, parent);
    a.setAttributeNS('http://www.w3.org/1999/xlink', 'xlink:href', href);
    var t = el('title', {}, a);
    t.textContent = title;
    return a;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return '–';
    return Number(v).toFixed(digits === undefined ? 1 : digits).replace(/\.0+$/, '');
  }

  function scoreClass(v) {
    if (v === null || v === undefined) return 'qa-fill-none';
    return v < 60 ? 'qa-fill-bad' : (v < 80 ? 'qa-fill-mid' : 'qa-fill-ok');
  }

  function empty(box) {
    box.textContent = '';
    var p = document.createElement('p');
    p.className = 'muted small';
    p.textContent = S.empty || '';
    box.appendChild(p);
  }

  // -- trend: average score line over inspection-count columns ---------------------------

  function drawTrend(box, points) {
    box.textContent = '';
    if (!points.length || !points.some(function (p) { return p.n > 0; })) { empty(box); return; }
    var W = 760, H = 240, L = 36, R = 12, T = 14, B = 30;
    var pw = W - L - R, ph = H - T - B;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, 'class': 'qa-svg', role: 'img' }, box);
    var top = 100;
    points.forEach(function (p) { if (p.value !== null && p.value > top) top = Math.ceil(p.value / 10) * 10; });
    var maxN = Math.max.apply(null, points.map(function (p) { return p.n; })) || 1;
    // zoom in when every score is high (the usual case), so a dip is visible; else from 0
    var low = Math.min.apply(null, points.filter(function (p) { return p.value !== null; })
                                        .map(function (p) { return p.value; }));
    var bottom = low >= 50 ? Math.floor((low - 5) / 10) * 10 : 0;
    var span = Math.max(10, top - bottom);
    var step = pw / points.length;
    function x(i) { return L + step * i + step / 2; }
    function y(v) { return T + ph - (Math.max(0, v - bottom) / span) * ph; }
    var tick = span <= 30 ? 5 : (span <= 60 ? 10 : 20);
    for (var g = bottom; g <= top; g += tick) {
      el('line', { x1: L, x2: W - R, y1: y(g), y2: y(g), 'class': 'qa-grid' }, svg);
      text(svg, L - 6, y(g) + 4, fmt(g, 0), 'qa-ax', 'end');
    }
    // inspection counts: light columns along the bottom quarter
    points.forEach(function (p, i) {
      if (!p.n) return;
      var h = (p.n / maxN) * ph * 0.28;
      el('rect', { x: x(i) - Math.min(step * 0.35, 14), y: T + ph - h,
                   width: Math.min(step * 0.7, 28), height: h, 'class': 'qa-col' }, svg);
    });
    // the line, broken where a bucket has no inspection
    var d = '', open = false;
    points.forEach(function (p, i) {
      if (p.value === null) { open = false; return; }
      d += (open ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(p.value).toFixed(1) + ' ';
      open = true;
    });
    if (d) el('path', { d: d, 'class': 'qa-line' }, svg);
    var every = Math.max(1, Math.ceil(points.length / 12));
    points.forEach(function (p, i) {
      if (i % every === 0 || i === points.length - 1) {
        text(svg, x(i), H - 10, p.label.slice(5), 'qa-ax', 'middle');
      }
      if (p.value === null) return;
      var title = (DATA.bucket === 'week' ? (S.week_of || '') + ' ' : '') + p.label + ' · ' +
        (S.avg_score || '') + ' ' + fmt(p.value) + ' · ' + p.n + ' ' + (S.inspections || '') +
        (p.fatal ? ' · ' + p.fatal + ' ' + (S.fatal || '') : '');
      var a = link(svg, p.href, title);
      el('circle', { cx: x(i), cy: y(p.value), r: p.fatal ? 5 : 4,
                     'class': p.fatal ? 'qa-dot qa-dot-fatal' : 'qa-dot' }, a);
      el('rect', { x: x(i) - step / 2, y: T, width: step, height: ph, 'class': 'qa-hitbox' }, a);
    });
  }

  // -- horizontal bars --------------------------------------------------------------------

  function drawBars(box, items, opts) {
    box.textContent = '';
    if (!items.length) { empty(box); return; }
    var W = 520, row = 28, L = 132, R = 52, T = 6;
    var H = T * 2 + row * items.length;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, 'class': 'qa-svg', role: 'img' }, box);
    var max = opts.max || Math.max.apply(null, items.map(function (d) { return d.value || 0; })) || 1;
    var pw = W - L - R;
    items.forEach(function (d, i) {
      var y0 = T + i * row;
      var label = d.label.length > 9 ? d.label.slice(0, 8) + '…' : d.label;
      var title = d.label + ' · ' + opts.title(d);
      var a = link(svg, d.href, title);
      el('rect', { x: 0, y: y0, width: W, height: row, 'class': 'qa-hitbox' }, a);
      text(a, L - 8, y0 + row / 2 + 4, label, 'qa-bar-label', 'end');
      el('rect', { x: L, y: y0 + 7, width: pw, height: row - 14, rx: 3, 'class': 'qa-track' }, a);
      var w = Math.max(2, ((d.value || 0) / max) * pw);
      el('rect', { x: L, y: y0 + 7, width: w, height: row - 14, rx: 3,
                   'class': 'qa-bar ' + opts.fill(d) }, a);
      text(a, L + pw + 6, y0 + row / 2 + 4, opts.value(d), 'qa-bar-num', 'start');
    });
  }

  function draw() {
    var trend = document.getElementById('qa-trend-chart');
    if (trend) drawTrend(trend, DATA.trend || []);
    var groups = document.getElementById('qa-groups-chart');
    if (groups) {
      drawBars(groups, DATA.groups || [], {
        max: 100,
        fill: function (d) { return scoreClass(d.value); },
        value: function (d) { return fmt(d.value); },
        title: function (d) { return (S.avg_score || '') + ' ' + fmt(d.value) + ' · ' + d.n + ' ' + (S.inspections || ''); }
      });
    }
    var rules = document.getElementById('qa-rules-chart');
    if (rules) {
      drawBars(rules, DATA.rules || [], {
        fill: function () { return 'qa-fill-accent'; },
        value: function (d) { return String(d.value); },
        title: function (d) { return d.value + ' ' + (S.hits || ''); }
      });
    }
  }

  // -- drill-down in place ----------------------------------------------------------------

  var drillBox = document.getElementById('qa-drill');

  function loadDrill(href) {
    var url = new URL(href, window.location.href);
    var target = '/app/qa/reports/drill' + url.search;
    drillBox.classList.add('qa-loading');
    fetch(target, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.text().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        drillBox.innerHTML = res.body;  // server-rendered, escaped fragment of our own origin
        drillBox.classList.remove('qa-loading');
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, '', url.pathname + url.search + '#qa-drill');
        }
        drillBox.scrollIntoView({ behavior: 'smooth', block: 'start' });
      })
      .catch(function () {
        drillBox.classList.remove('qa-loading');
        window.location.href = href;
      });
  }

  document.addEventListener('click', function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    var node = ev.target;
    var a = node && node.closest ? node.closest('[data-drill]') : null;
    if (!a || !drillBox) return;
    var href = a.getAttribute('href');
    if (!href) return;
    ev.preventDefault();
    loadDrill(href);
  });

  draw();
})();
