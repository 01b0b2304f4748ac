// kaudit's page: looks up connections, principals and topics through the
// JSON API (GET ../v1/...) and shows recent records per destination from
// ../v1/stats. Read-only. Every value from the tables is written with
// textContent, never as HTML: client ids and principals come from the
// request log and are not trusted.
'use strict';

(function () {
  const TOKEN_KEY = 'kaudit.token';
  const API = '../v1/';
  const ZERO_TIME = '0001-01-01T00:00:00Z';
  const $ = (sel) => document.querySelector(sel);

  // el builds an element: props sets attributes (class, text, on<event>),
  // children are nodes or text.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c == null) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  // api GETs a path under /v1/ and returns {status, body}; status 0 means
  // the server could not be reached.
  async function api(path) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    let resp;
    try {
      resp = await fetch(API + path, { headers, cache: 'no-store' });
    } catch (err) {
      return { status: 0, body: { error: 'kaudit is not reachable: ' + err.message } };
    }
    let body = null;
    try { body = await resp.json(); } catch (_) { body = null; }
    return { status: resp.status, body };
  }

  function problem(status, body, what) {
    if (status === 401) {
      return token() ? 'The server refused the API token. Check it and press “Use”.'
        : 'The server needs an API token: enter it at the top right.';
    }
    if (status === 404) return what + ' not found.' + (body && body.error ? ' (' + body.error + ')' : '');
    if (body && body.error) return body.error + ' (HTTP ' + status + ')';
    return 'HTTP ' + status;
  }

  // Formatting.
  function fmtTime(s) {
    if (!s || s === ZERO_TIME) return '—';
    const d = new Date(s);
    if (isNaN(d)) return s;
    return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
  }
  function fmtNum(n) { return (n || 0).toLocaleString('en-US'); }
  function fmtBytes(n) {
    n = n || 0;
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(1) + ' ' + units[i];
  }

  function ref(kind, key, label) {
    return el('a', { class: 'ref', href: '#' + kind + '/' + encodeURIComponent(key), title: 'look up ' + kind + ' ' + key,
      text: label == null ? key : label });
  }

  // table builds a table; cols are {h, cls}, rows are arrays of cells
  // (nodes or text), with an optional rowClass(row index).
  function table(id, cols, rows, rowClass) {
    if (!rows.length) return el('p', { class: 'muted', id, text: 'None.' });
    return el('table', { id },
      el('thead', null, el('tr', null, cols.map((c) => el('th', { class: c.cls, text: c.h })))),
      el('tbody', null, rows.map((r, i) => el('tr', { class: rowClass ? rowClass(i) : null },
        r.map((cell, j) => el('td', { class: cols[j].cls }, cell))))));
  }

  const NUM = 'num';
  const TIME = 'time';
  const accessCols = [
    { h: 'Produce', cls: NUM }, { h: 'Fetch', cls: NUM }, { h: 'Admin', cls: NUM }, { h: 'Denied', cls: NUM },
    { h: 'Bytes', cls: NUM }, { h: 'First', cls: TIME }, { h: 'Last', cls: TIME },
  ];
  function accessCells(a) {
    a = a || {};
    const denied = el('span', { class: a.denied ? 'denied-count' : null, text: fmtNum(a.denied) });
    return [fmtNum(a.produce), fmtNum(a.fetch), fmtNum(a.admin), denied, fmtBytes(a.bytes), fmtTime(a.first), fmtTime(a.last)];
  }

  function props(pairs) {
    return el('dl', { class: 'props' }, pairs.filter((p) => p).map(([k, v]) => [el('dt', { text: k }), el('dd', null, v)]));
  }

  function totals(a) {
    a = a || {};
    return `${fmtNum(a.produce)} produce · ${fmtNum(a.fetch)} fetch · ${fmtNum(a.admin)} admin · ` +
      `${fmtNum(a.denied)} denied · ${fmtBytes(a.bytes)}`;
  }

  function staleness(s) {
    if (!s) return el('span', { class: 'badge stale', text: 'staleness unknown' });
    if (!s.recovered) return el('span', { class: 'badge stale', text: 'view recovering: answer may be incomplete' });
    if (s.lag > 0) return el('span', { class: 'badge stale', text: `view ${fmtNum(s.lag)} messages behind` });
    return el('span', { class: 'badge fresh', text: 'view current (lag 0)' });
  }

  function parseResource(key) {
    const i = key.indexOf(':');
    return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
  }

  // Renderers, one per table.
  function renderPrincipal(v) {
    const res = Object.keys(v.resources || {}).sort().map((k) => {
      const [type, name] = parseResource(k);
      const label = type === 'TOPIC' ? ref('topic', name) : name;
      return [type, label, ...accessCells(v.resources[k])];
    });
    const conns = (v.connections || []).slice().sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    const denials = (v.denials || []).slice().reverse(); // newest first
    return [
      el('h2', null, 'Principal ', el('span', { class: 'mono', id: 'answer-key', text: v.principal })),
      props([['Total', totals(v.total)], ['First seen', fmtTime(v.total && v.total.first)], ['Last seen', fmtTime(v.total && v.total.last)]]),
      el('h3', { text: 'Resources' }),
      table('resources', [{ h: 'Type' }, { h: 'Resource' }, ...accessCols], res,
        (i) => (v.resources[Object.keys(v.resources).sort()[i]].denied ? 'denied' : null)),
      el('h3', { text: `Connections (${conns.length})` }),
      table('connections', [{ h: 'Connection' }, { h: 'Client id' }, { h: 'Client IP' }, { h: 'First', cls: TIME }, { h: 'Last', cls: TIME }],
        conns.map((c) => [ref('connection', c.connection), c.clientId || '—', c.clientIp || '—', fmtTime(c.first), fmtTime(c.last)])),
      el('h3', { text: `Denials (${denials.length})` }),
      table('denials', [{ h: 'Time', cls: TIME }, { h: 'Method' }, { h: 'Resource' }, { h: 'Connection' }, { h: 'Error' }],
        denials.map((d) => [fmtTime(d.time), d.method, d.resourceType === 'TOPIC' ? ref('topic', d.resource, 'TOPIC:' + d.resource) : d.resourceType + ':' + d.resource,
          ref('connection', d.connection), d.errorType]), () => 'denied'),
    ];
  }

  function renderTopic(v) {
    const names = Object.keys(v.principals || {}).sort();
    return [
      el('h2', null, 'Topic ', el('span', { class: 'mono', id: 'answer-key', text: v.topic }), el('span', { class: 'muted', text: ' on ' + v.cluster })),
      props([['Total', totals(v.total)], ['First seen', fmtTime(v.total && v.total.first)], ['Last seen', fmtTime(v.total && v.total.last)]]),
      el('h3', { text: `Principals (${names.length})` }),
      table('principals', [{ h: 'Principal' }, ...accessCols], names.map((p) => [ref('principal', p), ...accessCells(v.principals[p])]),
        (i) => (v.principals[names[i]].denied ? 'denied' : null)),
    ];
  }

  function firstRequest(f) {
    if (!f) return '—';
    return `${fmtTime(f.time)} · correlation id ${f.correlationId} · ${(f.topics || []).join(', ')} · raw line ${f.sourcePartition}/${f.sourceOffset}`;
  }

  function renderConnection(v) {
    const topics = (v.topics || []).map((t) => [ref('topic', t.topic), fmtNum(t.total.produce), fmtNum(t.total.fetch),
      el('span', { class: t.total.denied ? 'denied-count' : null, text: fmtNum(t.total.denied) }), fmtBytes(t.total.bytes),
      fmtTime(t.total.first), fmtTime(t.total.last)]);
    return [
      el('h2', null, 'Connection ', el('span', { class: 'mono', id: 'answer-key', text: v.connection })),
      props([
        ['Principal', ref('principal', v.principal)],
        ['Client id', v.clientId || '—'],
        ['Client address', v.clientAddress || '—'],
        ['Listener', `${v.listener || '—'} (${v.securityProtocol || '—'})`],
        ['Cluster', v.cluster],
        ['First seen', fmtTime(v.firstSeen)],
        ['Last seen', fmtTime(v.lastSeen)],
        ['Audited requests', fmtNum(v.requests)],
        ['First Produce', firstRequest(v.firstProduce)],
        ['First Fetch', firstRequest(v.firstFetch)],
        ['Suppressed', `${fmtNum(v.suppressedProduce)} produce · ${fmtNum(v.suppressedFetch)} fetch · ${fmtBytes(v.suppressedBytes)}`],
      ]),
      el('h3', { text: 'Topics' }),
      table('topics', [{ h: 'Topic' }, { h: 'Produce', cls: NUM }, { h: 'Fetch', cls: NUM }, { h: 'Denied', cls: NUM },
        { h: 'Bytes', cls: NUM }, { h: 'First', cls: TIME }, { h: 'Last', cls: TIME }], topics,
      (i) => (v.topics[i].total.denied ? 'denied' : null)),
    ];
  }

  function renderList(kind, a) {
    const rows = a.items.map((it) => {
      const v = it.value || {};
      if (kind === 'topics') {
        return [ref('topic', v.topic || it.key, it.key), fmtNum(Object.keys(v.principals || {}).length), ...accessCells(v.total)];
      }
      return [ref('principal', it.key), fmtNum(Object.keys(v.resources || {}).length), fmtNum((v.connections || []).length), ...accessCells(v.total)];
    });
    const cols = kind === 'topics'
      ? [{ h: 'Topic' }, { h: 'Principals', cls: NUM }, ...accessCols]
      : [{ h: 'Principal' }, { h: 'Resources', cls: NUM }, { h: 'Connections', cls: NUM }, ...accessCols];
    return [
      el('h2', null, `${kind === 'topics' ? 'Topics' : 'Principals'} starting with `, el('span', { class: 'mono', id: 'answer-key', text: a.prefix || '(anything)' })),
      table('list', cols, rows),
      a.truncated ? el('p', { class: 'muted', text: 'More matched: narrow the prefix.' }) : null,
    ];
  }

  const renderers = { principals: renderPrincipal, topics: renderTopic, connections: renderConnection };
  const tableOf = { principal: 'principals', topic: 'topics', connection: 'connections' };
  const placeholders = { principal: 'User:alice', topic: 'orders', connection: '10.0.0.11:9094-10.0.1.20:40000-3' };

  function clusterQuery() {
    const c = $('#cluster').value.trim();
    return c ? '?cluster=' + encodeURIComponent(c) : '';
  }

  function show(state, ...nodes) {
    const r = $('#result');
    r.dataset.state = state;
    r.replaceChildren(...nodes.flat().filter((n) => n != null));
  }

  let seq = 0; // answers to superseded lookups are dropped

  async function lookup(kind, key) {
    const table = tableOf[kind];
    const n = ++seq;
    show('loading', el('p', { class: 'muted', text: `Looking up ${kind} ${key}…` }));
    const { status, body } = await api(table + '/' + encodeURIComponent(key) + clusterQuery());
    if (n !== seq) return;
    if (status !== 200 || !body || !body.value) {
      show('error', el('p', { class: 'error', text: problem(status, body, kind[0].toUpperCase() + kind.slice(1) + ' ' + key) }),
        body && body.staleness ? el('p', null, staleness(body.staleness)) : null);
      return;
    }
    show('ok', el('p', null, staleness(body.staleness)), renderers[table](body.value));
  }

  async function list(kind, prefix) {
    const table = tableOf[kind];
    const n = ++seq;
    show('loading', el('p', { class: 'muted', text: `Listing ${table}…` }));
    const q = clusterQuery();
    const { status, body } = await api(table + '/' + (q ? q + '&' : '?') + 'prefix=' + encodeURIComponent(prefix));
    if (n !== seq) return;
    if (status !== 200 || !body) {
      show('error', el('p', { class: 'error', text: problem(status, body, table) }));
      return;
    }
    show('ok', el('p', null, staleness(body.staleness)), renderList(table, body));
  }

  // Recent records per destination, from /v1/stats.
  function sparkline(perMinute) {
    const max = Math.max(1, ...perMinute);
    return el('span', { class: 'spark', title: 'records per minute over the last ' + perMinute.length + ' minutes' },
      perMinute.map((n) => {
        const s = el('span');
        s.style.height = Math.round((n / max) * 100) + '%';
        return s;
      }));
  }

  async function refreshStats() {
    const { status, body } = await api('stats');
    const box = $('#recent-body');
    if (status !== 200 || !body) {
      box.replaceChildren(el('p', { class: 'error', text: problem(status, body, 'stats') }));
      return;
    }
    const minutes = body.recent || [];
    const nowMin = Math.floor(Date.now() / 60000);
    const window = 15;
    const perTopic = {};
    const ensure = (t) => (perTopic[t] = perTopic[t] || { hour: 0, spark: new Array(window).fill(0) });
    for (const m of minutes) {
      const age = nowMin - Math.floor(new Date(m.minute).getTime() / 60000);
      for (const [t, n] of Object.entries(m.counts || {})) {
        const p = ensure(t);
        p.hour += n;
        if (age >= 0 && age < window) p.spark[window - 1 - age] += n;
      }
    }
    const since = (body.counts && body.counts.RecordsOut) || {};
    for (const t of Object.keys(since)) ensure(t);
    const topics = Object.keys(perTopic).sort();
    box.replaceChildren(table('recent-table',
      [{ h: 'Destination' }, { h: 'Last min', cls: NUM }, { h: 'Last hour', cls: NUM }, { h: 'Since start', cls: NUM }],
      topics.map((t) => [[el('div', { class: 'mono', text: t }), sparkline(perTopic[t].spark)],
        fmtNum(perTopic[t].spark[window - 1]), fmtNum(perTopic[t].hour), fmtNum(since[t])])));
    const c = body.counts || {};
    $('#counts').replaceChildren(props([
      ['Ready', body.ready ? 'yes' : 'no, recovering tables'],
      ['Lines in', fmtNum(c.LinesIn)],
      ['Suppressed', fmtNum(c.Suppressed)],
      ['Dead-lettered', fmtNum(c.DeadLetter)],
    ]));
    $('#recent-updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  }

  function showTokenState() {
    $('#token-state').textContent = token() ? 'token set for this tab' : '';
  }

  // Lookups are reflected in the URL fragment (#principal/User%3Aalice), so
  // links in answers, the back button and bookmarks work.
  function fromHash() {
    const m = /^#(principal|topic|connection)\/(.+)$/.exec(location.hash);
    if (!m) return;
    const key = decodeURIComponent(m[2]);
    $('#kind').value = m[1];
    $('#key').value = key;
    $('#key').placeholder = placeholders[m[1]];
    lookup(m[1], key);
  }

  function init() {
    $('#token').value = token();
    showTokenState();
    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('#token').value.trim();
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
      refreshStats();
    });
    $('#token-clear').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      $('#token').value = '';
      showTokenState();
      refreshStats();
    });
    $('#kind').addEventListener('change', () => {
      $('#key').placeholder = placeholders[$('#kind').value];
      $('#list').disabled = $('#kind').value === 'connection';
    });
    $('#lookup').addEventListener('submit', (e) => {
      e.preventDefault();
      const kind = $('#kind').value;
      const key = $('#key').value.trim();
      if (!key) return;
      const hash = '#' + kind + '/' + encodeURIComponent(key);
      if (location.hash === hash) lookup(kind, key); else location.hash = hash; // hashchange looks it up
    });
    $('#list').addEventListener('click', () => list($('#kind').value, $('#key').value.trim()));
    window.addEventListener('hashchange', fromHash);
    fromHash();
    refreshStats();
    setInterval(refreshStats, 10000);
  }

  init();
})();
