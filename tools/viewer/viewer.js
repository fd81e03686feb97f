// agentlog viewer: one page over the HTTP API (/api/...). Views: slow traces, search, one trace as a
// waterfall, per-file/function stats, the audit log. Plain DOM, no framework, no network beyond this server.
'use strict';

const app = document.getElementById('app');
const tip = document.getElementById('tip');
const tokenInput = document.getElementById('token');
tokenInput.value = localStorage.getItem('agentlog.token') || '';
tokenInput.addEventListener('change', () => { localStorage.setItem('agentlog.token', tokenInput.value); route(); });

// The page shown: a view's answer that comes after the reader went to another page is dropped (it was added
// to that page).
let page = 0;
class Stale extends Error {}

async function api(path, params) {
  const mine = page;
  const qs = params ? '?' + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)) : '';
  const headers = tokenInput.value ? { Authorization: 'Bearer ' + tokenInput.value } : {};
  const res = await fetch(path + qs, { headers });
  const body = await res.json().catch(() => ({ error: { id: 'http.bad_json', message: res.statusText } }));
  if (mine !== page) throw new Stale();
  if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

const ms = (v) => v == null ? '' : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v >= 1 ? v.toFixed(2) + ' ms' : (v * 1000).toFixed(1) + ' µs';
const pct = (v) => v == null ? '' : (v * 100).toFixed(1) + ' %';
const short = (v, n = 80) => { const s = typeof v === 'string' ? v : JSON.stringify(v); return s && s.length > n ? s.slice(0, n - 1) + '…' : s; };
const traceLink = (id) => el('a', { href: '#/trace/' + encodeURIComponent(id), class: 'mono' }, id);

function show(title, ...content) {
  ++page;
  app.replaceChildren(el('h2', {}, title), ...content);
}
function fail(err) {
  if (!(err instanceof Stale)) app.append(el('div', {class: 'error'}, String(err.message || err)));
}

function traceTable(traces) {
  if (!traces || traces.length === 0) return el('div', { class: 'empty' }, 'No traces. Run a traced program, then reload.');
  return el('table', {},
    el('tr', {}, el('th', {}, 'trace'), el('th', {}, 'root function'), el('th', {}, 'start'),
      el('th', { class: 'num' }, 'duration'), el('th', { class: 'num' }, 'spans'), el('th', {}, 'error')),
    traces.map((t) => el('tr', { class: t.error ? 'err' : '' },
      el('td', {}, traceLink(t.traceId)), el('td', { class: 'mono' }, t.rootFunction || ''),
      el('td', { class: 'mono' }, t.startTime || ''), el('td', { class: 'num' }, ms(t.duration)),
      el('td', { class: 'num' }, t.spanCount ?? ''), el('td', {}, t.error ? short(t.error, 40) : ''))));
}

function filterForm(fields, values, onSubmit) {
  const inputs = fields.map(([name, label, placeholder]) =>
    el('label', {}, label, el('input', { name, value: values[name] || '', placeholder: placeholder || '' })));
  const form = el('form', { class: 'filters' }, inputs, el('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onSubmit(Object.fromEntries(new FormData(form).entries()));
  });
  return form;
}

async function viewSlow(params) {
  const threshold = params.get('threshold') || '0';
  const form = filterForm([['threshold', 'over (ms or 250ms, 1.5s)']], { threshold },
    (v) => { location.hash = '#/slow?' + new URLSearchParams(v); });
  show('Slowest traces', form);
  try { app.append(traceTable((await api('/api/tracing/slow', { threshold, limit: 50 })).traces)); } catch (e) { fail(e); }
}

async function viewSearch(params) {
  const keys = ['query', 'function', 'file', 'minDuration', 'maxDuration', 'since', 'until', 'errorsOnly'];
  const values = Object.fromEntries(keys.map((k) => [k, params.get(k) || '']));
  const form = filterForm([['query', 'text', 'function, params, values'], ['function', 'function'], ['file', 'file'],
    ['minDuration', 'min duration', '10ms'], ['maxDuration', 'max duration'], ['since', 'since', '1h'],
    ['until', 'until'], ['errorsOnly', 'errors only', 'true']], values,
  (v) => { location.hash = '#/search?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x)); });
  show('Search traces', form);
  try { app.append(traceTable((await api('/api/tracing/search', { ...values, limit: 100 })).traces)); } catch (e) { fail(e); }
}

// Microsecond-precise epoch from "2026-11-25T14:30:25.107123Z" (Date.parse keeps milliseconds only).
function epochUs(iso) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso || '');
  if (!m) return NaN;
  const frac = (m[2] || '').padEnd(6, '0').slice(0, 6);
  return Date.parse(m[1] + 'Z') * 1000 + Number(frac);
}

// Spans in tree order (depth first), each with its depth; iterative so 50-deep and 100k-wide trees work.
function treeOrder(spans) {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const kids = new Map();
  for (const s of spans) {
    const p = s.parentSpanId && byId.has(s.parentSpanId) ? s.parentSpanId : null;
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(s);
  }
  for (const list of kids.values()) list.sort((a, b) => epochUs(a.startTime) - epochUs(b.startTime));
  const out = [];
  const stack = (kids.get(null) || []).slice().reverse().map((s) => [s, 0]);
  while (stack.length) {
    const [s, depth] = stack.pop();
    out.push([s, depth]);
    for (const c of (kids.get(s.spanId) || []).slice().reverse()) stack.push([c, depth + 1]);
  }
  return out;
}

function spanTip(s) {
  const lines = [s.function + '  (' + (s.file || '') + (s.line ? ':' + s.line : '') + ')', 'duration ' + ms(s.duration),
    'start ' + s.startTime];
  if (s.params && Object.keys(s.params).length) lines.push('params ' + short(s.params, 400));
  if (s.returnValue !== undefined && s.returnValue !== null) lines.push('return ' + short(s.returnValue, 400));
  if (s.error) lines.push('error ' + short(s.error, 400));
  return lines.join('\n');
}

function waterfall(trace) {
  const rows = treeOrder(trace.spans);
  const NS = 'http://www.w3.org/2000/svg';
  const labelW = 340, barW = Math.max(400, app.clientWidth - labelW - 40), rowH = 20, maxRows = 5000;
  const shown = rows.slice(0, maxRows);
  // (A loop: spreading 125,000 spans into Math.min's arguments overflows the stack.)
  let t0 = Infinity, total = 1;
  for (const s of trace.spans) t0 = Math.min(t0, epochUs(s.startTime));
  for (const s of trace.spans) total = Math.max(total, epochUs(s.startTime) - t0 + s.duration * 1000);
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'waterfall');
  svg.setAttribute('width', labelW + barW + 20);
  svg.setAttribute('height', shown.length * rowH + 24);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  for (let i = 0; i <= 4; i++) {
    const x = labelW + (barW * i) / 4;
    add('line', { class: 'tick', x1: x, x2: x, y1: 0, y2: shown.length * rowH + 6 });
    add('text', { x: x + 2, y: shown.length * rowH + 18 }, ms((total * i) / 4 / 1000));
  }
  shown.forEach(([s, depth], i) => {
    const y = i * rowH;
    const args = s.params && typeof s.params === 'object'
      ? '(' + Object.entries(s.params).map(([k, v]) => k + '=' + short(v, 16)).join(', ') + ')' : '';
    add('text', { x: 4 + Math.min(depth, 30) * 10, y: y + 14 }, short(s.function + args, 48 - Math.min(depth, 30)));
    const x = labelW + ((epochUs(s.startTime) - t0) / total) * barW;
    const w = Math.max(1, ((s.duration * 1000) / total) * barW);
    const rect = add('rect', { class: 'span' + (s.error ? ' error' : ''), x, y: y + 3, width: w, height: rowH - 6,
      'data-span': s.spanId });
    rect.addEventListener('mousemove', (e) => {
      tip.textContent = spanTip(s);
      tip.hidden = false;
      tip.style.left = Math.min(e.clientX + 12, innerWidth - 540) + 'px';
      tip.style.top = e.clientY + 12 + 'px';
    });
    rect.addEventListener('mouseleave', () => { tip.hidden = true; });
    add('text', { x: Math.min(x + w + 4, labelW + barW - 60), y: y + 14 }, ms(s.duration));
  });
  return { svg, truncated: rows.length - shown.length };
}

async function viewTrace(id) {
  show('Trace ' + id);
  try {
    const trace = await api('/api/tracing/trace/' + encodeURIComponent(id));
    const { svg, truncated } = waterfall(trace);
    app.append(el('div', { class: 'meta' }, ms(trace.duration) + ' · ' + trace.spans.length + ' spans' +
      (truncated ? ' · first 5000 drawn' : '')), svg);
  } catch (e) { fail(e); }
}

async function viewStats(params) {
  const values = { file: params.get('file') || '', function: params.get('function') || '' };
  const form = filterForm([['file', 'file', 'src/users.cpp'], ['function', 'function (optional)']], values,
    (v) => { location.hash = '#/stats?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x)); });
  show('Statistics', form);
  if (!values.file) { app.append(el('div', { class: 'empty' }, 'Name a file (and optionally a function).')); return; }
  const path = values.function
    ? '/api/tracing/stats/function/' + encodeURIComponent(values.file) + '/' + encodeURIComponent(values.function)
    : '/api/tracing/stats/file/' + encodeURIComponent(values.file);
  try {
    const s = await api(path);
    app.append(el('table', { class: 'stats' },
      el('tr', {}, ['count', 'mean', 'p50', 'p95', 'p99', 'max', 'error rate'].map((h) => el('th', { class: 'num' }, h))),
      el('tr', {}, el('td', { class: 'num' }, s.count), [s.mean, s.p50, s.p95, s.p99, s.max].map((v) => el('td', { class: 'num' }, ms(v))),
        el('td', { class: 'num' }, pct(s.errorRate)))),
    el('h2', {}, 'Slowest traces'), el('ul', {}, (s.slowestTraceIds || []).map((t) => el('li', {}, traceLink(t)))));
  } catch (e) { fail(e); }
}

async function viewAudit(params) {
  const values = { agent: params.get('agent') || '', tool: params.get('tool') || '', since: params.get('since') || '' };
  const form = filterForm([['agent', 'agent'], ['tool', 'tool'], ['since', 'since', '1d']], values,
    (v) => { location.hash = '#/audit?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x)); });
  show('Audit log', form);
  try {
    const body = await api('/api/audit', { ...values, limit: 200 });
    const records = body.records || [];
    if (!records.length) { app.append(el('div', { class: 'empty' }, 'No recorded actions.')); return; }
    app.append(el('table', {},
      el('tr', {}, ['time', 'agent', 'tool', 'decision', 'outcome', 'duration', 'arguments'].map((h) => el('th', {}, h))),
      records.map((r) => el('tr', { class: r.decision === 'allowed' ? '' : 'err' },
        el('td', { class: 'mono' }, r.time || r.ts || ''),
        el('td', {}, r.agent ? (r.agent.name || r.agent) : ''), el('td', { class: 'mono' }, r.tool || ''),
        el('td', {}, r.decision || ''), el('td', {}, short(r.outcome, 40)),
        el('td', { class: 'num' }, r.durationMs != null ? ms(r.durationMs) : ''),
        el('td', { class: 'mono' }, short(r.arguments, 100))))));
  } catch (e) { fail(e); }
}

function route() {
  tip.hidden = true;
  const hash = location.hash || '#/slow';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === (parts[0] || 'slow'));
  if (parts[0] === 'trace' && parts[1]) return viewTrace(decodeURIComponent(parts[1]));
  if (parts[0] === 'search') return viewSearch(params);
  if (parts[0] === 'stats') return viewStats(params);
  if (parts[0] === 'audit') return viewAudit(params);
  return viewSlow(params);
}

addEventListener('hashchange', route);
route();
