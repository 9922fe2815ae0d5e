// The /console page: sign in with a token, a live low-stock table, product search, a 30-day
// stock chart per store and the latest movements of a chosen product. It only reads.
import { createClient } from 'graphql-ws';

const TOKEN_KEY = 'stockroom.console.token';
const LOW_PAGE = 100;
const LOW_MAX_PAGES = 10;
const DAY_MS = 86400e3;
const CHART_DAYS = 30;
const LEDGER_MAX_PAGES = 20;
const REFRESH_MS = 60e3;
const COLORS = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#5c940d', '#e67700'];

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

// ------------------------------------------------------------------ plain-word errors

/** An error whose message is meant for the person at the screen. */
class ConsoleError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // 'auth' | 'unreachable' | 'server'
  }
}

const REVOKED =
  'Your token is not accepted any more: it has been revoked, has expired or was mistyped. ' +
  'Sign in again with a valid token (stockroom token create <user>).';
const UNREACHABLE = 'The server cannot be reached. Check that stockroom is running; this page keeps trying.';

function errorFor(code, message) {
  switch (code) {
    case 'UNAUTHENTICATED':
      return new ConsoleError('auth', REVOKED);
    case 'FORBIDDEN':
      return new ConsoleError('server', 'Your token may not read this.');
    case 'SERVICE_UNAVAILABLE':
      return new ConsoleError('server', 'The server is busy or cannot reach its database; try again in a moment.');
    default:
      return new ConsoleError('server', `The server refused the request: ${message}`);
  }
}

// ------------------------------------------------------------------ GraphQL over HTTP

let token = '';

async function gql(query, variables = {}) {
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ConsoleError('unreachable', UNREACHABLE);
  }
  let body;
  try {
    body = await res.json();
  } catch {
    if (res.status >= 500) throw new ConsoleError('unreachable', UNREACHABLE);
    throw new ConsoleError('server', `The server answered ${res.status} without a result.`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw errorFor(first.extensions && first.extensions.code, first.message);
  }
  if ($('message').textContent === UNREACHABLE) showMessage(''); // reached again
  return body.data;
}

// ------------------------------------------------------------------ status line and messages

function setLive(state, text) {
  const live = $('live');
  live.className = `live ${state}`;
  live.textContent = text;
}

function showMessage(text, isError = true) {
  const box = $('message');
  box.textContent = text;
  box.className = isError ? 'message error' : 'message';
  box.hidden = !text;
}

/** Every failure goes through here: a refused token signs out, the rest is shown in words. */
function fail(err) {
  if (err instanceof ConsoleError && err.kind === 'auth') {
    signOut(REVOKED);
    return;
  }
  showMessage(err instanceof ConsoleError ? err.message : `Something went wrong: ${err}`);
}

// ------------------------------------------------------------------ low-stock table

const STOCK_FIELDS = 'id quantity reorderPoint lowStock updatedAt store { id code } product { id sku name }';
const lowRows = new Map(); // stock id -> stock
const latest = new Map(); // stock id -> updatedAt (ms) of the newest state seen
let loading = null; // events that arrive while the table loads, applied after it
let totalLow = 0;

async function loadLowStock() {
  const pending = [];
  loading = pending;
  try {
    const rows = [];
    let after = null;
    for (let page = 0; page < LOW_MAX_PAGES; page++) {
      const data = await gql(
        `query Low($after: String) { lowStock(first: ${LOW_PAGE}, after: $after) {
           totalCount pageInfo { hasNextPage endCursor } nodes { ${STOCK_FIELDS} } } }`,
        { after },
      );
      rows.push(...data.lowStock.nodes);
      totalLow = data.lowStock.totalCount;
      if (!data.lowStock.pageInfo.hasNextPage) break;
      after = data.lowStock.pageInfo.endCursor;
    }
    lowRows.clear();
    for (const s of rows) {
      const seen = latest.get(s.id);
      const at = Date.parse(s.updatedAt);
      if (seen === undefined || at >= seen) latest.set(s.id, at);
      lowRows.set(s.id, s);
    }
  } finally {
    loading = null;
  }
  for (const [s, reached] of pending) applyStock(s, reached);
  renderLow(new Set());
}

/** A stock row as a subscription announced it: in the table when low, out of it otherwise. */
function applyStock(s, reached) {
  if (loading) {
    loading.push([s, reached]);
    return;
  }
  const at = Date.parse(s.updatedAt);
  const seen = latest.get(s.id);
  if (seen !== undefined && at < seen) return; // an older state than one already shown
  latest.set(s.id, at);
  const wasLow = lowRows.has(s.id);
  if (s.lowStock) lowRows.set(s.id, s);
  else lowRows.delete(s.id);
  if (s.lowStock && !wasLow) totalLow += 1;
  if (!s.lowStock && wasLow) totalLow = Math.max(0, totalLow - 1);
  renderLow(new Set(s.lowStock && (reached || !wasLow) ? [s.id] : []));
  if (chosen && s.product.id === chosen) scheduleDetail();
}

function renderLow(fresh) {
  // The lowStock order: store code, then SKU (byte order, like the server).
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  const rows = [...lowRows.values()].sort((a, b) => cmp(a.store.code, b.store.code) || cmp(a.product.sku, b.product.sku));
  const body = $('low-table').tBodies[0];
  body.replaceChildren(
    ...rows.map((s) =>
      el(
        'tr',
        { class: fresh.has(s.id) ? 'fresh' : '', 'data-id': s.id },
        el('td', {}, s.store.code),
        el('td', {}, s.product.sku),
        el('td', { class: 'name' }, s.product.name),
        el('td', { class: 'num' }, s.quantity),
        el('td', { class: 'num' }, s.reorderPoint),
      ),
    ),
  );
  $('low-count').textContent = rows.length < totalLow ? `(${rows.length} of ${totalLow})` : `(${rows.length})`;
  $('low-empty').hidden = rows.length > 0;
  $('low-table').hidden = rows.length === 0;
}

// ------------------------------------------------------------------ live updates (graphql-ws)

let ws = null;

function isAuthClose(ev) {
  return ev && typeof ev.code === 'number' && (ev.code === 4401 || ev.code === 4403);
}

function startLive() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let everConnected = false;
  let socket = null;
  let pongTimer = null;
  ws = createClient({
    url: `${scheme}//${location.host}/graphql/ws`,
    connectionParams: () => ({ Authorization: `Bearer ${token}` }),
    lazy: false,
    keepAlive: 20e3,
    retryAttempts: Infinity,
    shouldRetry: (ev) => !isAuthClose(ev),
    retryWait: (retries) => new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** retries, 10e3))),
    onNonLazyError: (err) => (isAuthClose(err) ? signOut(REVOKED) : undefined),
    on: {
      // A ping the server does not answer within 5 s means the connection is dead (a cut
      // network closes nothing): close it, and the client reconnects.
      ping: (received) => {
        if (!received) {
          pongTimer = setTimeout(() => {
            if (socket && socket.readyState === WebSocket.OPEN) socket.close(4408, 'Request Timeout');
          }, 5e3);
        }
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      opened: (s) => {
        socket = s;
      },
      connecting: (isRetry) => setLive('wait', isRetry ? 'reconnecting…' : 'connecting…'),
      connected: (_socket, _payload, wasRetry) => {
        setLive('on', 'live');
        if (wasRetry || everConnected) {
          showMessage('');
          // Changes made while the socket was down are not replayed to this page: read again.
          loadLowStock().catch(fail);
        }
        everConnected = true;
      },
      closed: (ev) => {
        if (isAuthClose(ev)) signOut(REVOKED);
        else if (ws) {
          setLive('wait', 'reconnecting…');
          showMessage('The live connection to the server was lost; reconnecting…', false);
        }
      },
    },
  });
  const sink = (pick) => ({
    next: (result) => {
      if (result.errors && result.errors.length) {
        const e = result.errors[0];
        fail(errorFor(e.extensions && e.extensions.code, e.message));
      } else pick(result.data);
    },
    error: (err) => {
      if (isAuthClose(err)) signOut(REVOKED);
      else if (Array.isArray(err) && err.length) {
        fail(errorFor(err[0].extensions && err[0].extensions.code, err[0].message));
      }
    },
    complete: () => {},
  });
  ws.subscribe(
    { query: `subscription { stockChanged { stock { ${STOCK_FIELDS} } } }` },
    sink((d) => applyStock(d.stockChanged.stock, false)),
  );
  ws.subscribe(
    { query: `subscription { lowStockReached { ${STOCK_FIELDS} } }` },
    sink((d) => applyStock(d.lowStockReached, true)),
  );
}

function stopLive() {
  const client = ws;
  ws = null;
  if (client) client.dispose();
}

// ------------------------------------------------------------------ product search and detail

let chosen = null; // product id
let searchTimer = null;
let searchSeq = 0;

function onSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 200);
}

async function runSearch() {
  const q = $('search').value.trim();
  const seq = ++searchSeq;
  if (!q) {
    $('results').replaceChildren();
    return;
  }
  try {
    const data = await gql(
      `query Search($q: String!) { products(first: 10, filter: { search: $q }, orderBy: { field: SKU }) {
         nodes { id sku name totalQuantity } } }`,
      { q },
    );
    if (seq !== searchSeq) return;
    const items = data.products.nodes.map((p) =>
      el(
        'li',
        {},
        el(
          'button',
          { type: 'button', class: p.id === chosen ? 'chosen' : '', 'data-id': p.id, onclick: () => choose(p.id) },
          el('span', { class: 'sku' }, p.sku),
          p.name,
          ` · ${p.totalQuantity} in stock`,
        ),
      ),
    );
    $('results').replaceChildren(...(items.length ? items : [el('li', { class: 'sub' }, 'No product matches.')]));
  } catch (err) {
    fail(err);
  }
}

function choose(id) {
  chosen = id;
  for (const b of $('results').querySelectorAll('button')) b.classList.toggle('chosen', b.dataset.id === id);
  loadDetail().catch(fail);
}

let detailTimer = null;
function scheduleDetail() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => loadDetail().catch(fail), 300);
}

const DETAIL = `query Detail($id: ID!, $since: DateTime!) {
  product(id: $id) {
    id sku name totalQuantity
    stocks { id quantity reorderPoint lowStock store { id code name } start: quantityAt(at: $since) }
    transactions(first: 20) {
      nodes { id createdAt type quantity quantityAfter note store { code } user { username } }
    }
  }
}`;
const LEDGER = `query Ledger($id: ID!, $since: DateTime!, $after: String) {
  transactions(first: 100, after: $after, filter: { productId: $id, since: $since }) {
    pageInfo { hasNextPage endCursor }
    nodes { createdAt quantityAfter store { id } }
  }
}`;

async function loadDetail() {
  const id = chosen;
  if (!id) return;
  const now = Date.now();
  const since = new Date(now - CHART_DAYS * DAY_MS).toISOString();
  const data = await gql(DETAIL, { id, since });
  const p = data.product;
  if (id !== chosen) return;
  if (!p) {
    showMessage('That product no longer exists.');
    return;
  }
  // The ledger since the start of the chart, newest first, at most LEDGER_MAX_PAGES pages.
  const ledger = [];
  let after = null;
  for (let page = 0; page < LEDGER_MAX_PAGES; page++) {
    const d = await gql(LEDGER, { id, since, after });
    ledger.push(...d.transactions.nodes);
    if (!d.transactions.pageInfo.hasNextPage) break;
    after = d.transactions.pageInfo.endCursor;
  }
  if (id !== chosen) return;
  ledger.reverse();
  const t0 = now - CHART_DAYS * DAY_MS;
  const series = p.stocks.map((s) => {
    const points = [[t0, s.start]];
    for (const tx of ledger) if (tx.store.id === s.store.id) points.push([Date.parse(tx.createdAt), tx.quantityAfter]);
    points.push([now, s.quantity]); // the last point is the stock as it is now
    return { code: s.store.code, points, last: s.quantity };
  });
  $('detail').hidden = false;
  $('detail-title').textContent = `${p.sku} · ${p.name}`;
  $('detail-stocks').textContent =
    `${p.totalQuantity} in stock: ` +
    (p.stocks.map((s) => `${s.store.code} ${s.quantity} (reorder at ${s.reorderPoint})`).join(', ') || 'no store holds it');
  $('chart').replaceChildren(chart(series, t0, now));
  $('moves').tBodies[0].replaceChildren(
    ...p.transactions.nodes.map((t) =>
      el(
        'tr',
        {},
        el('td', {}, new Date(t.createdAt).toLocaleString()),
        el('td', {}, t.store.code),
        el('td', {}, t.type.replace('_', ' ').toLowerCase()),
        el('td', { class: `num ${t.quantity > 0 ? 'plus' : 'minus'}` }, t.quantity > 0 ? `+${t.quantity}` : t.quantity),
        el('td', { class: 'num' }, t.quantityAfter),
        el('td', { class: 'note' }, t.note || ''),
        el('td', {}, t.user ? t.user.username : ''),
      ),
    ),
  );
}

// ------------------------------------------------------------------ the chart (plain SVG)

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One step line per store: the stock holds its value until the next movement. */
function chart(series, t0, t1) {
  const W = 640;
  const H = 240;
  const m = { l: 40, r: 12, t: 10, b: 24 };
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const top = niceCeil(max);
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
  const y = (v) => H - m.b - (v / top) * (H - m.t - m.b);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Stock per store over 30 days' });
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    root.append(svg('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    root.append(svg('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, Math.round(v)));
  }
  for (let d = 0; d <= CHART_DAYS; d += 10) {
    const t = t0 + d * DAY_MS;
    const label = new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
    root.append(svg('text', { x: x(t), y: H - 6, 'text-anchor': d === 0 ? 'start' : d === CHART_DAYS ? 'end' : 'middle' }, label));
  }
  root.append(svg('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
  root.append(svg('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
  const legend = el('div', { class: 'legend' });
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [];
    s.points.forEach(([t, v], j) => {
      if (j > 0) pts.push(`${x(t).toFixed(1)},${y(s.points[j - 1][1]).toFixed(1)}`);
      pts.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    });
    root.append(
      svg('polyline', {
        points: pts.join(' '),
        stroke: color,
        'data-store': s.code,
        'data-last': s.last,
        'data-values': s.points.map((p) => p[1]).join(','),
      }),
    );
    const key = el('span', {}, el('i', {}), `${s.code} (${s.last})`);
    key.firstChild.style.background = color;
    legend.append(key);
  });
  const box = el('div', {});
  box.append(root, legend);
  return box;
}

function niceCeil(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * step >= v) return f * step;
  return 10 * step;
}

// ------------------------------------------------------------------ sign in / out

let refreshTimer = null;

async function signIn(candidate) {
  token = candidate;
  const data = await gql('{ viewer { username displayName role } }');
  if (!data.viewer) throw new ConsoleError('auth', REVOKED);
  sessionStorage.setItem(TOKEN_KEY, token);
  $('who').textContent = `${data.viewer.displayName || data.viewer.username} · ${data.viewer.role}`;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  showMessage('');
  startLive();
  await loadLowStock();
  // A safety net: the table is read again every minute (and a refused token noticed).
  refreshTimer = setInterval(() => loadLowStock().catch(fail), REFRESH_MS);
}

function signOut(reason) {
  clearInterval(refreshTimer);
  stopLive();
  sessionStorage.removeItem(TOKEN_KEY);
  token = '';
  chosen = null;
  lowRows.clear();
  latest.clear();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('who').textContent = '';
  $('detail').hidden = true;
  $('results').replaceChildren();
  $('search').value = '';
  setLive('off', 'offline');
  showMessage('');
  const error = $('signin-error');
  error.textContent = reason || '';
  error.hidden = !reason;
}

async function trySignIn(candidate) {
  try {
    await signIn(candidate);
  } catch (err) {
    if (err instanceof ConsoleError && err.kind === 'auth') signOut(REVOKED);
    else {
      signOut(err instanceof ConsoleError ? err.message : String(err));
      if (err instanceof ConsoleError && err.kind === 'unreachable') $('token').value = candidate;
    }
  }
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const candidate = $('token').value.trim();
  $('token').value = '';
  if (candidate) trySignIn(candidate);
});
$('signout').addEventListener('click', () => signOut(''));
$('search').addEventListener('input', onSearch);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) trySignIn(saved);
else signOut('');
