// The emperor dashboard's page: one table of vassals and one page per vassal, kept live by the
// server-sent events of /api/events. Plain DOM, no framework, nothing loaded from elsewhere.
const $ = (sel) => document.querySelector(sel);
const session = { csrf: null };
const ACTIONS = {
  reload: { label: 'Reload', ask: 'Reload %s gracefully?', when: (r) => r.pid > 0 && r.state !== 'cursed' },
  'chain-reload': {
    label: 'Chain',
    ask: 'Chain reload %s (one worker at a time)?',
    when: (r) => r.pid > 0 && r.state !== 'cursed',
  },
  stop: {
    label: 'Stop',
    ask: 'Stop %s? It stays stopped until started.',
    when: (r) => r.state !== 'stopped' && r.state !== 'cursed',
  },
  start: {
    label: 'Start',
    ask: 'Start %s now?',
    when: (r) => r.state === 'stopped' || r.state === 'blacklisted',
  },
  unblacklist: {
    label: 'Unblacklist',
    ask: 'Clear the blacklist of %s and start it now?',
    when: (r) => r.state === 'blacklisted',
  },
};
let rows = [];
let received = 0;
let sort = { key: 'name', dir: 1 };
let current = null; // the vassal whose page is open
let stream = null;
let lastLog = 0;
let points = [];

const fmt = {
  int: (n) => (n ? String(n) : '–'),
  dur(s) {
    if (!s) return '–';
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  },
  bytes(b) {
    if (!b) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) {
      b /= 1024;
      i++;
    }
    return `${b.toFixed(i ? 1 : 0)} ${u[i]}`;
  },
  rps: (n) => (n ? n.toFixed(n < 10 ? 2 : 0) : '0'),
  ms: (n) => (n === null || n === undefined ? '–' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`),
};

/** Busy/idle workers, or a dash until the process was sampled. */
const workersText = (r) => (r.pid && r.busy + r.idle > 0 ? `${r.busy}/${r.idle}` : '–');

function stateText(r) {
  if (r.state !== 'blacklisted') return r.state;
  const left = Math.max(0, Math.ceil((r.blacklistLeftMs - (Date.now() - received)) / 1000));
  return `blacklisted (${left}s)`;
}

function toast(text, bad = false) {
  const t = $('#toast');
  t.textContent = text;
  t.className = bad ? 'toast bad' : 'toast';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    t.textContent = '';
  }, 5000);
}

async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.method === 'POST' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  const res = await fetch(path, { ...opts, headers, credentials: 'same-origin' });
  if (res.status === 401) {
    location.href = '/login';
    throw new Error('logged out');
  }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error ?? `HTTP ${res.status}`);
  return body;
}

function confirmAction(text) {
  const dlg = $('#confirm');
  $('#confirm-text').textContent = text;
  dlg.returnValue = '';
  dlg.showModal();
  $('#confirm-ok').focus();
  return new Promise((resolve) =>
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true }),
  );
}

async function act(name, action) {
  const a = ACTIONS[action];
  if (!(await confirmAction(a.ask.replace('%s', name)))) return;
  try {
    await api(`/api/vassals/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
    toast(`${a.label}: asked for ${name}`);
  } catch (err) {
    toast(`${a.label} ${name}: ${err.message}`, true);
  }
}

function actionButtons(r) {
  const frag = document.createDocumentFragment();
  for (const [action, a] of Object.entries(ACTIONS)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = a.label;
    b.dataset.action = action;
    b.dataset.vassal = r.name;
    b.setAttribute('aria-label', `${a.label} ${r.name}`);
    frag.append(b);
  }
  return frag;
}

function updateButtons(container, r) {
  for (const b of container.querySelectorAll('button[data-action]')) {
    const a = ACTIONS[b.dataset.action];
    if (a) b.disabled = !a.when(r);
  }
}

const COLUMNS = [
  ['name', null],
  ['state', null],
  ['pid', (r) => fmt.int(r.pid)],
  ['uptimeS', (r) => fmt.dur(r.uptimeS)],
  ['busy', workersText],
  ['rps', (r) => fmt.rps(r.rps)],
  ['p95Ms', (r) => fmt.ms(r.p95Ms)],
  ['rss', (r) => fmt.bytes(r.rss)],
  ['respawns', (r) => String(r.respawns)],
  ['lastExit', (r) => r.lastExit ?? '–'],
];
const trs = new Map();

function makeRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.vassal = r.name;
  COLUMNS.forEach(([key], i) => {
    const td = document.createElement('td');
    td.dataset.col = key;
    const th = document.querySelectorAll('#vassals th')[i];
    td.className = th.className;
    if (key === 'name') {
      const a = document.createElement('a');
      a.href = `#/vassal/${encodeURIComponent(r.name)}`;
      a.textContent = r.name;
      td.append(a);
    }
    tr.append(td);
  });
  const td = document.createElement('td');
  const box = document.createElement('div');
  box.className = 'actions';
  box.append(actionButtons(r));
  td.append(box);
  tr.append(td);
  return tr;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function renderTable() {
  const tbody = $('#vassals tbody');
  const q = $('#filter').value.trim().toLowerCase();
  const seen = new Set();
  const shown = rows
    .filter((r) => !q || r.name.toLowerCase().includes(q) || r.state.includes(q))
    .sort((a, b) => {
      const x = a[sort.key] ?? -1;
      const y = b[sort.key] ?? -1;
      return (x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name)) * sort.dir;
    });
  shown.forEach((r, i) => {
    seen.add(r.name);
    let tr = trs.get(r.name);
    if (!tr) {
      tr = makeRow(r);
      trs.set(r.name, tr);
    }
    for (const [key, f] of COLUMNS) {
      if (key === 'name') continue;
      const td = tr.querySelector(`td[data-col="${key}"]`);
      setText(td, key === 'state' ? stateText(r) : f(r));
      if (key === 'state') td.className = `state state-${r.state}`;
    }
    updateButtons(tr, r);
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
  });
  for (const [name, tr] of trs)
    if (!seen.has(name)) {
      tr.remove();
      if (!rows.some((r) => r.name === name)) trs.delete(name);
    }
  setText($('#count'), `(${rows.length})`);
  $('#empty').hidden = rows.length > 0;
}

function renderSummary() {
  const r = rows.find((x) => x.name === current);
  const dl = $('#v-summary');
  if (!r) {
    dl.textContent = 'This vassal is gone.';
    return;
  }
  const items = [
    ['State', stateText(r)],
    ['PID', fmt.int(r.pid)],
    ['Uptime', fmt.dur(r.uptimeS)],
    ['Workers busy/idle', workersText(r)],
    ['Req/s (1 min)', fmt.rps(r.rps)],
    ['p95 (1 min)', fmt.ms(r.p95Ms)],
    ['RSS', fmt.bytes(r.rss)],
    ['Respawns', String(r.respawns)],
    ['Last exit', r.lastExit ?? '–'],
    ['Listeners', r.listeners.map((l) => `${l.proto} ${l.address}`).join(', ') || '–'],
  ];
  if (dl.children.length !== items.length) {
    dl.textContent = '';
    for (const [k] of items) {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = k;
      div.append(dt, document.createElement('dd'));
      dl.append(div);
    }
  }
  items.forEach(([, v], i) => {
    const dd = dl.children[i].querySelector('dd');
    setText(dd, v);
    if (i === 0) dd.className = `state state-${r.state}`;
  });
  dd(dl, 'pid', r.pid);
  updateButtons($('#v-actions'), r);
}

function dd(dl, key, value) {
  dl.dataset[key] = String(value);
}

function chart(id, key, fmtValue) {
  const svg = $(`#c-${id}`);
  const pts = points.filter((p) => p[key] !== null);
  const last = pts[pts.length - 1];
  const max = Math.max(...pts.map((p) => p[key]), 1e-9);
  const caption = last ? `· now ${fmtValue(last[key])} · max ${fmtValue(pts.length ? max : 0)}` : '';
  setText(document.querySelector(`[data-last="${key}"]`), caption);
  if (pts.length < 2) {
    svg.textContent = '';
    return;
  }
  const t0 = pts[0].t;
  const span = Math.max(1, pts[pts.length - 1].t - t0);
  const coords = pts.map(
    (p) => `${(((p.t - t0) / span) * 300).toFixed(1)},${(78 - (p[key] / max) * 74).toFixed(1)}`,
  );
  let line = svg.querySelector('polyline');
  if (!line) {
    line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    svg.append(line);
  }
  line.setAttribute('points', coords.join(' '));
}

function renderCharts() {
  chart('rps', 'rps', fmt.rps);
  chart('p95Ms', 'p95Ms', fmt.ms);
  chart('rss', 'rss', fmt.bytes);
}

function appendLog(lines) {
  const pre = $('#log');
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  for (const l of lines) {
    if (l.n <= lastLog) continue;
    lastLog = l.n;
    pre.append(`${l.text}\n`);
  }
  while (pre.childNodes.length > 500) pre.firstChild.remove();
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

async function loadWorkers() {
  if (!current) return;
  const name = current;
  const tbody = $('#workers tbody');
  try {
    const ws = await api(`/api/vassals/${encodeURIComponent(name)}/workers`);
    if (current !== name) return;
    tbody.textContent = '';
    for (const w of ws) {
      const tr = document.createElement('tr');
      const cells = [
        w.id,
        w.pid,
        w.status,
        w.requests,
        w.exceptions,
        fmt.bytes(w.rss),
        fmt.ms(w.avgRtUs / 1000),
        w.respawns,
      ];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = String(c);
        td.className = i === 2 ? '' : i === 7 ? 'num opt' : 'num';
        tr.append(td);
      });
      tbody.append(tr);
    }
  } catch (err) {
    tbody.textContent = '';
    const tr = tbody.insertRow();
    const td = tr.insertCell();
    td.colSpan = 8;
    td.className = 'muted';
    td.textContent = err.message;
  }
}

async function loadConfig() {
  const name = current;
  try {
    const c = await api(`/api/vassals/${encodeURIComponent(name)}/config`);
    if (current !== name) return;
    $('#config').textContent = c.text;
    $('#secrets').textContent = c.secretsShown ? '(secrets shown)' : '(secrets hidden)';
  } catch (err) {
    if (current === name) $('#config').textContent = err.message;
  }
}

async function openVassal(name) {
  current = name;
  lastLog = 0;
  points = [];
  $('#overview').hidden = true;
  $('#vassal').hidden = false;
  $('#v-title').textContent = name;
  document.title = `${name} · tsgi emperor`;
  $('#log').textContent = '';
  $('#config').textContent = '…';
  $('#workers tbody').textContent = '';
  const box = $('#v-actions');
  box.textContent = '';
  box.append(actionButtons({ name }));
  connect();
  try {
    const d = await api(`/api/vassals/${encodeURIComponent(name)}`);
    points = d.points;
    renderCharts();
    appendLog(await api(`/api/vassals/${encodeURIComponent(name)}/log`));
  } catch (err) {
    toast(err.message, true);
  }
  renderSummary();
  loadWorkers();
  loadConfig();
}

function openOverview() {
  current = null;
  $('#overview').hidden = false;
  $('#vassal').hidden = true;
  document.title = 'tsgi emperor';
  connect();
  renderTable();
}

function connect() {
  if (stream) stream.close();
  const url = current ? `/api/events?vassal=${encodeURIComponent(current)}` : '/api/events';
  stream = new EventSource(url);
  const conn = $('#conn');
  stream.onopen = () => {
    conn.textContent = 'live';
    conn.className = 'conn live';
  };
  stream.onerror = () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn';
  };
  stream.addEventListener('rows', (e) => {
    const before = rows.find((r) => r.name === current);
    rows = JSON.parse(e.data);
    received = Date.now();
    if (!current) return renderTable();
    const now = rows.find((r) => r.name === current);
    renderSummary();
    if (now && before && now.pid !== before.pid && now.pid) {
      loadWorkers();
      loadConfig();
    }
  });
  stream.addEventListener('point', (e) => {
    points.push(JSON.parse(e.data));
    const hour = Date.now() - 3600_000;
    while (points.length && points[0].t < hour) points.shift();
    renderCharts();
    loadWorkers();
  });
  stream.addEventListener('log', (e) => appendLog([JSON.parse(e.data)]));
}

function route() {
  const m = /^#\/vassal\/(.+)$/.exec(location.hash);
  if (m) openVassal(decodeURIComponent(m[1]));
  else openOverview();
}

document.addEventListener('click', (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  if (b.dataset.vassal && b.dataset.action) act(b.dataset.vassal, b.dataset.action);
  else if (b.id === 'clear-blacklist')
    confirmAction('Clear the blacklist of every vassal and start them now?').then(async (ok) => {
      if (!ok) return;
      try {
        await api('/api/blacklist/clear', { method: 'POST' });
        toast('Blacklist cleared');
      } catch (err) {
        toast(err.message, true);
      }
    });
  else if (b.id === 'logout')
    api('/logout', { method: 'POST' }).finally(() => {
      location.href = '/login';
    });
  else if (b.parentElement?.dataset.key) {
    const key = b.parentElement.dataset.key;
    sort = { key, dir: sort.key === key ? -sort.dir : 1 };
    for (const th of document.querySelectorAll('#vassals th[data-key]'))
      th.setAttribute(
        'aria-sort',
        th.dataset.key === key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none',
      );
    renderTable();
  }
});
$('#filter').addEventListener('input', renderTable);
window.addEventListener('hashchange', route);
// the blacklist countdown
setInterval(() => {
  if (rows.some((r) => r.state === 'blacklisted')) current ? renderSummary() : renderTable();
}, 1000);

api('/api/session').then((s) => {
  session.csrf = s.csrf;
  $('#who').textContent = s.who;
  route();
});
