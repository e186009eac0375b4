/* kefu API reference: renders /openapi.json grouped by tag, with our own code (no CDN). */
(function () {
  'use strict';

  var bootEl = document.getElementById('boot');
  var BOOT = {};
  try { BOOT = JSON.parse(bootEl ? bootEl.textContent : '{}'); } catch (e) { BOOT = {}; }
  var STRINGS = BOOT.strings || {};
  var METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];
  var MAX_DEPTH = 6;

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (m, n) { return n in params ? String(params[n]) : m; });
    }
    return text;
  }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) { c.forEach(function (x) { if (x) el.appendChild(x); }); continue; }
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }

  function slug(text) {
    return 'tag-' + String(text).toLowerCase().replace(/[^a-z0-9\u4e00-\u9fff]+/g, '-').replace(/^-|-$/g, '');
  }

  var spec = null;

  function resolve(ref) {
    // "#/components/schemas/Name" → the object it points at
    if (typeof ref !== 'string' || ref.slice(0, 2) !== '#/') return null;
    var node = spec;
    var parts = ref.slice(2).split('/');
    for (var i = 0; i < parts.length; i++) {
      var key = parts[i].replace(/~1/g, '/').replace(/~0/g, '~');
      if (!node || typeof node !== 'object' || !(key in node)) return null;
      node = node[key];
    }
    return node;
  }

  function refName(ref) { return String(ref).split('/').pop(); }

  function deref(obj) {
    var seen = 0;
    while (obj && obj.$ref && seen < 10) { obj = resolve(obj.$ref) || {}; seen++; }
    return obj || {};
  }

  /* A short, readable type: "string", "integer", "array<MessageRead>", "string | null". */
  function typeLabel(s) {
    if (!s) return 'any';
    if (s.$ref) return refName(s.$ref);
    if (s.anyOf || s.oneOf) {
      return (s.anyOf || s.oneOf).map(typeLabel).join(' | ');
    }
    if (s.allOf && s.allOf.length === 1) return typeLabel(s.allOf[0]);
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map(function (v) { return JSON.stringify(v); }).join(' | ');
    var type = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
    if (type === 'array') return 'array<' + typeLabel(s.items) + '>';
    if (type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) {
      return 'object<string, ' + typeLabel(s.additionalProperties) + '>';
    }
    if (s.format) return (type || 'string') + ' (' + s.format + ')';
    return type || (s.properties ? 'object' : 'any');
  }

  function constraints(s) {
    var out = [];
    if (!s) return out;
    if (s.minLength !== undefined) out.push(t('docs.min_length', { n: s.minLength }));
    if (s.maxLength !== undefined) out.push(t('docs.max_length', { n: s.maxLength }));
    if (s.minimum !== undefined) out.push('≥ ' + s.minimum);
    if (s.exclusiveMinimum !== undefined) out.push('> ' + s.exclusiveMinimum);
    if (s.maximum !== undefined) out.push('≤ ' + s.maximum);
    if (s.exclusiveMaximum !== undefined) out.push('< ' + s.exclusiveMaximum);
    if (s.maxItems !== undefined) out.push(t('docs.max_items', { n: s.maxItems }));
    if (s.pattern) out.push(t('docs.pattern', { p: s.pattern }));
    if (s.default !== undefined) out.push(t('docs.default', { v: JSON.stringify(s.default) }));
    return out;
  }

  /* The object schema whose properties should be listed under a field, if any. */
  function expandable(s) {
    if (!s) return null;
    if (s.anyOf || s.oneOf) {
      var options = (s.anyOf || s.oneOf).filter(function (x) { return !(x.type === 'null'); });
      return options.length === 1 ? expandable(options[0]) : null;
    }
    if (s.allOf && s.allOf.length === 1) return expandable(s.allOf[0]);
    if (s.type === 'array') return expandable(s.items);
    var d = deref(s);
    return d.properties ? { schema: d, ref: s.$ref || null } : null;
  }

  function renderProps(obj, depth, trail) {
    var box = h('div', { class: depth ? 'schema-nest' : null });
    var required = obj.required || [];
    var props = obj.properties || {};
    Object.keys(props).forEach(function (name) {
      var p = props[name];
      var notes = constraints(p.$ref ? {} : p);
      var desc = p.description || '';
      var row = h('div', { class: 'schema-row' },
        h('span', { class: 's-name' }, name),
        required.indexOf(name) >= 0 ? h('span', { class: 'req' }, '*') : null,
        ': ',
        h('span', { class: p.$ref ? 's-ref' : 's-type' }, typeLabel(p)),
        notes.length ? h('span', { class: 's-note' }, '  — ' + notes.join('; ')) : null,
        desc ? h('span', { class: 's-note' }, '  ' + desc) : null);
      box.appendChild(row);
      var sub = expandable(p);
      if (sub && depth < MAX_DEPTH) {
        var key = sub.ref || '';
        if (key && trail.indexOf(key) >= 0) {
          box.appendChild(h('div', { class: 'schema-nest s-note' }, t('docs.recursive', { name: refName(key) })));
        } else {
          box.appendChild(renderProps(sub.schema, depth + 1, key ? trail.concat([key]) : trail));
        }
      }
    });
    if (!Object.keys(props).length && obj.additionalProperties) {
      box.appendChild(h('div', { class: 'schema-row s-note' }, t('docs.free_object')));
    }
    return box;
  }

  function renderSchema(schema) {
    var top = h('div', { class: 'schema' });
    var label = typeLabel(schema);
    top.appendChild(h('div', { class: 'schema-row' }, h('span', { class: schema.$ref ? 's-ref' : 's-type' }, label)));
    var sub = expandable(schema);
    if (sub) top.appendChild(renderProps(sub.schema, 1, sub.ref ? [sub.ref] : []));
    else {
      var notes = constraints(deref(schema));
      if (notes.length) top.appendChild(h('div', { class: 's-note' }, notes.join('; ')));
    }
    return top;
  }

  function renderParams(params) {
    var table = h('table', { class: 'params' },
      h('thead', null, h('tr', null,
        h('th', null, t('docs.param.name')), h('th', null, t('docs.param.in')),
        h('th', null, t('docs.param.type')), h('th', null, t('docs.param.desc')))));
    var body = h('tbody');
    params.forEach(function (raw) {
      var p = deref(raw);
      var s = p.schema || {};
      var notes = constraints(deref(s));
      body.appendChild(h('tr', null,
        h('td', null, h('span', { class: 'mono' }, p.name), p.required ? h('span', { class: 'req' }, t('docs.required')) : null),
        h('td', null, p.in),
        h('td', null, h('span', { class: 'mono' }, typeLabel(s))),
        h('td', null, p.description || '', notes.length ? h('div', { class: 's-note' }, notes.join('; ')) : null)));
    });
    table.appendChild(body);
    return table;
  }

  function renderContent(content) {
    var wrap = h('div');
    Object.keys(content || {}).forEach(function (media) {
      var schema = content[media].schema;
      wrap.appendChild(h('div', { class: 's-note' }, media));
      if (schema) wrap.appendChild(renderSchema(schema));
    });
    return wrap;
  }

  function renderOperation(method, path, op) {
    var details = h('details', { class: 'op', 'data-search': (method + ' ' + path + ' ' + (op.summary || '') + ' ' + (op.description || '')).toLowerCase() });
    details.appendChild(h('summary', null,
      h('span', { class: 'method method-' + method }, method.toUpperCase()),
      h('span', { class: 'op-path' }, path),
      h('span', { class: 'op-summary' }, op.summary || '')));
    var body = h('div', { class: 'op-body' });
    if (op.description) body.appendChild(h('div', { class: 'op-desc' }, op.description));
    var params = op.parameters || [];
    if (params.length) {
      body.appendChild(h('section', null, h('h4', null, t('docs.parameters')), renderParams(params)));
    }
    if (op.requestBody) {
      var rb = deref(op.requestBody);
      body.appendChild(h('section', null,
        h('h4', null, t('docs.request_body'), rb.required ? h('span', { class: 'req' }, t('docs.required')) : null),
        renderContent(rb.content)));
    }
    var responses = op.responses || {};
    var codes = Object.keys(responses);
    if (codes.length) {
      var sec = h('section', null, h('h4', null, t('docs.responses')));
      codes.forEach(function (code) {
        var r = deref(responses[code]);
        sec.appendChild(h('div', { class: 'resp' },
          h('span', { class: 'resp-code resp-' + String(code).charAt(0) }, code),
          h('span', null, r.description || '')));
        if (r.content) sec.appendChild(renderContent(r.content));
      });
      body.appendChild(sec);
    }
    details.appendChild(body);
    return details;
  }

  function render() {
    var info = spec.info || {};
    document.getElementById('docs-title').textContent = (info.title || 'API') + (info.version ? ' · v' + info.version : '');
    document.getElementById('docs-desc').textContent = info.description || '';

    var groups = {};
    var order = [];
    (spec.tags || []).forEach(function (tag) { if (!groups[tag.name]) { groups[tag.name] = []; order.push(tag.name); } });
    Object.keys(spec.paths || {}).forEach(function (path) {
      var item = spec.paths[path];
      METHODS.forEach(function (m) {
        var op = item[m];
        if (!op) return;
        if (item.parameters && !op.parameters) op.parameters = item.parameters;
        var tags = op.tags && op.tags.length ? op.tags : [t('docs.untagged')];
        tags.forEach(function (tag) {
          if (!groups[tag]) { groups[tag] = []; order.push(tag); }
          groups[tag].push({ method: m, path: path, op: op });
        });
      });
    });
    var tagInfo = {};
    (spec.tags || []).forEach(function (tag) { tagInfo[tag.name] = tag; });

    var content = document.getElementById('docs-content');
    var nav = document.getElementById('docs-tags');
    content.textContent = '';
    nav.textContent = '';
    order.forEach(function (tag) {
      var ops = groups[tag];
      if (!ops.length) return;
      var id = slug(tag);
      nav.appendChild(h('li', null, h('a', { href: '#' + id }, tag, h('span', { class: 'n' }, String(ops.length)))));
      var section = h('section', { class: 'docs-tag', id: id }, h('h2', null, tag),
        tagInfo[tag] && tagInfo[tag].description ? h('p', { class: 'muted' }, tagInfo[tag].description) : null);
      ops.forEach(function (o) { section.appendChild(renderOperation(o.method, o.path, o.op)); });
      content.appendChild(section);
    });
    if (!order.length) content.appendChild(h('p', { class: 'muted' }, t('docs.empty')));
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  var filter = document.getElementById('docs-filter');
  if (filter) {
    filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase();
      document.querySelectorAll('.op').forEach(function (op) {
        op.hidden = q !== '' && op.getAttribute('data-search').indexOf(q) < 0;
      });
      document.querySelectorAll('.docs-tag').forEach(function (sec) {
        sec.hidden = !sec.querySelector('.op:not([hidden])');
      });
    });
  }

  fetch(BOOT.openapi_url || '/openapi.json', { credentials: 'same-origin' })
    .then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    })
    .then(function (data) { spec = data; render(); })
    .catch(function (err) {
      var content = document.getElementById('docs-content');
      content.textContent = '';
      content.appendChild(h('div', { class: 'alert alert-error' }, t('docs.load_failed', { reason: err.message })));
    });
})();
