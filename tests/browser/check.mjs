// Browser checks of /graphiql and /console against a running stockroom seeded with the demo
// catalogue, in headless Chromium. Run by tests/api/browser.rs, which passes:
//   STOCKROOM_BASE          http://127.0.0.1:PORT
//   STOCKROOM_ADMIN_TOKEN   the demo's admin token (records movements over HTTP)
//   STOCKROOM_VIEWER_TOKEN  a VIEWER token (signs in to the console)
//   STOCKROOM_SCREENSHOTS   optional: a directory to write graphiql.png and console.png into
// To revoke the VIEWER token mid-session the script prints `REVOKE` and waits for a line on
// stdin. It prints `ok …` per passed check and exits non-zero on the first failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const base = process.env.STOCKROOM_BASE;
const adminToken = process.env.STOCKROOM_ADMIN_TOKEN;
const viewerToken = process.env.STOCKROOM_VIEWER_TOKEN;
const shots = process.env.STOCKROOM_SCREENSHOTS;
if (!base || !adminToken || !viewerToken) throw new Error('STOCKROOM_BASE and the tokens are required');

const stdin = createInterface({ input: process.stdin });
const stdinLines = stdin[Symbol.asyncIterator]();

function ok(name) {
  console.log(`ok   ${name}`);
}
function check(name, cond, detail = '') {
  if (!cond) throw new Error(`FAILED ${name}${detail ? `: ${detail}` : ''}`);
  ok(name);
}

async function gql(token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function allLowStock() {
  const rows = [];
  let after = null;
  for (;;) {
    const d = await gql(
      viewerToken,
      `query($after: String) { lowStock(first: 100, after: $after) { pageInfo { hasNextPage endCursor }
         nodes { id quantity reorderPoint store { code } product { sku name } } } }`,
      { after },
    );
    rows.push(...d.lowStock.nodes);
    if (!d.lowStock.pageInfo.hasNextPage) return rows;
    after = d.lowStock.pageInfo.endCursor;
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'stockroom-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, 'ws');
const elsewhere = [];
context.on('request', (r) => {
  const url = r.url();
  if (!url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:')) elsewhere.push(url);
});
const pageErrors = [];

try {
  await graphiql();
  await consolePage();
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
  stdin.close();
}
check('no page error was thrown', pageErrors.length === 0, pageErrors.join('\n'));

// ------------------------------------------------------------------ GraphiQL

async function graphiql() {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`graphiql: ${e.message}`));
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(`${wsOrigin}/`)) elsewhere.push(ws.url());
  });
  await page.goto(`${base}/graphiql`);
  await page.waitForSelector('.graphiql-container');
  // The schema has loaded (anonymous introspection) when the Explorer lists the root fields.
  await page.click('button[aria-label="Show GraphiQL Explorer"]');
  await page.waitForSelector('.graphiql-explorer-root');
  await page.waitForFunction(() => document.querySelector('.graphiql-explorer-root')?.textContent.includes('lowStock'));
  check('the Explorer opens and lists the schema', true);

  const tabs = page.locator('.graphiql-tab');
  const count = await tabs.count();
  check('GraphiQL opens with five example tabs', count === 5, `${count} tabs`);

  // Headers pane: pre-filled in every tab; the token is pasted in the first tab only.
  const headerValue = () =>
    page.evaluate(() => {
      const cm = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].find((e) =>
        e.CodeMirror.getValue().includes('Authorization'),
      );
      return cm ? cm.CodeMirror.getValue() : null;
    });
  check('the headers pane is pre-filled', (await headerValue()) === '{"Authorization": "Bearer "}', await headerValue());

  const response = () => page.evaluate(() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue());
  const query = () => page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue());
  for (let i = 0; i < count; i++) {
    await tabs.nth(i).locator('.graphiql-tab-button').click();
    // GraphiQL parses the tab's operation name shortly after the switch (as a person would wait).
    await page.waitForTimeout(500);
    if (i === 0) {
      await page.evaluate((token) => {
        const cm = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].find((e) =>
          e.CodeMirror.getValue().includes('Authorization'),
        );
        cm.CodeMirror.setValue(`{"Authorization": "Bearer ${token}"}`);
      }, adminToken);
    }
    const text = await query();
    check(`tab ${i + 1} starts with a comment line`, text.startsWith('# '), text.split('\n')[0]);
    const isSubscription = /^\s*subscription/m.test(text);
    await page.click('.graphiql-execute-button');
    if (isSubscription) {
      // Move stock until the subscription shows a change (the first movement may come before
      // the socket has subscribed).
      const target = await gql(adminToken, '{ product(sku: "DEMO-002") { id stocks { store { id } quantity } } }');
      for (let attempt = 0; attempt < 10; attempt++) {
        await gql(
          adminToken,
          'mutation($i: StockMovementInput!) { recordInbound(input: $i) { newStock } }',
          { i: { productId: target.product.id, storeId: target.product.stocks[0].store.id, quantity: 1, note: 'graphiql check' } },
        );
        const seen = await page
          .waitForFunction(() => /"data"|"errors"/.test(document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()), null, { timeout: 1000 })
          .then(() => true, () => false);
        if (seen) break;
      }
    }
    await page.waitForFunction(
      () => /"data"|"errors"/.test(document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()),
      null,
      { timeout: 10000 },
    );
    const result = await response();
    const parsed = JSON.parse(result);
    check(
      `tab ${i + 1} (${text.split('\n')[0].slice(2, 40)}…) runs and shows data`,
      !parsed.errors && parsed.data && Object.values(parsed.data).every((v) => v !== null),
      result.slice(0, 400),
    );
    if (isSubscription) {
      check('the subscription tab shows the change', parsed.data.stockChanged.stock.product.sku === 'DEMO-002', result);
      await page.click('.graphiql-execute-button'); // stop it
    }
    if (i === 0 && shots) {
      await page.screenshot({ path: join(shots, 'graphiql.png') });
    }
  }
  check('GraphiQL made no request to any other host', elsewhere.length === 0, elsewhere.join(', '));
  await page.close();
}

// ------------------------------------------------------------------ the console

async function consolePage() {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`console: ${e.message}`));
  await page.goto(`${base}/console`);
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#token', viewerToken);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  check('a VIEWER token signs in', (await page.textContent('#who')).includes('VIEWER') && !(await page.isVisible('#signin')));
  check('the token is kept in sessionStorage, not the URL', !page.url().includes(viewerToken) &&
    (await page.evaluate(() => sessionStorage.getItem('stockroom.console.token'))) === viewerToken);
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live');
  ok('the live connection is up');

  const tableRows = () =>
    page.$$eval('#low-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent).join('|')));
  const expected = (await allLowStock()).map((s) =>
    [s.store.code, s.product.sku, s.product.name, s.quantity, s.reorderPoint].join('|'),
  );
  await page.waitForFunction((n) => document.querySelectorAll('#low-table tbody tr').length === n, expected.length);
  const shown = await tableRows();
  check('the low-stock table matches the lowStock query', JSON.stringify(shown) === JSON.stringify(expected),
    `shown ${shown.length} rows, expected ${expected.length}`);

  // A movement over HTTP that takes a row down to its reorder point shows up live.
  const d = await gql(
    adminToken,
    `{ products(first: 100) { nodes { id sku name stocks { id quantity reorderPoint store { id code } } } } }`,
  );
  let pick = null;
  for (const p of d.products.nodes) {
    const s = p.stocks.filter((s) => s.quantity > s.reorderPoint).sort((a, b) => b.quantity - a.quantity)[0];
    if (s && p.stocks.length >= 2 && (!pick || s.quantity - s.reorderPoint > pick.s.quantity - pick.s.reorderPoint)) pick = { p, s };
  }
  check('the demo has a row above its reorder point', pick !== null);
  const { p, s } = pick;
  const started = Date.now();
  await gql(
    adminToken,
    'mutation($i: StockMovementInput!) { recordOutbound(input: $i) { newStock } }',
    { i: { productId: p.id, storeId: s.store.id, quantity: s.quantity - s.reorderPoint, note: 'console check' } },
  );
  await page.waitForSelector(`#low-table tbody tr[data-id="${s.id}"]`, { timeout: 2000 });
  const row = await page.$eval(`#low-table tbody tr[data-id="${s.id}"]`, (tr) => [...tr.cells].map((td) => td.textContent));
  check(
    `the row ${s.store.code}/${p.sku} appears without a reload (${Date.now() - started} ms)`,
    row[3] === String(s.reorderPoint) && row[1] === p.sku,
    row.join('|'),
  );

  // The chart of that product: one line per store, each ending at the store's stock now.
  await page.fill('#search', p.sku);
  await page.click(`#results button[data-id="${p.id}"]`);
  await page.waitForSelector('#chart polyline');
  await page.waitForFunction(
    ([code, q]) => document.querySelector(`#chart polyline[data-store="${code}"]`)?.dataset.last === String(q),
    [s.store.code, s.reorderPoint],
  );
  const now = await gql(viewerToken, `query($id: ID!) { product(id: $id) { stocks { quantity store { code } } } }`, { id: p.id });
  const lines = await page.$$eval('#chart polyline', (ps) =>
    ps.map((pl) => ({ store: pl.dataset.store, last: pl.dataset.last, values: pl.dataset.values.split(','), points: pl.getAttribute('points') })),
  );
  check('the chart has one line per store', lines.length === now.product.stocks.length &&
    now.product.stocks.every((st) => lines.some((l) => l.store === st.store.code)), JSON.stringify(lines.map((l) => l.store)));
  for (const st of now.product.stocks) {
    const line = lines.find((l) => l.store === st.store.code);
    check(
      `the ${st.store.code} line ends at its current stock (${st.quantity})`,
      line.last === String(st.quantity) && line.values.at(-1) === String(st.quantity),
      JSON.stringify(line),
    );
  }
  const moves = await page.$$eval('#moves tbody tr', (trs) => trs.length);
  check('the latest movements are listed', moves > 0 && moves <= 20, `${moves} rows`);
  if (shots) await page.screenshot({ path: join(shots, 'console.png') });

  // The network goes away: the page says the server cannot be reached, and recovers.
  await context.setOffline(true);
  await page.fill('#search', 'Drill');
  await page.waitForSelector('#message:not([hidden])', { timeout: 5000 });
  const offline = await page.textContent('#message');
  check('an unreachable server is told so in words', /cannot be reached/.test(offline), offline);
  await context.setOffline(false);
  await page.fill('#search', 'Drill ');
  await page.waitForSelector('#message', { state: 'hidden', timeout: 5000 });
  await page.waitForSelector('#results button');
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 15000 });
  ok('the page recovers when the server is back');

  // The token is revoked while the page is open: the next request says so in words.
  console.log('REVOKE');
  const answer = await stdinLines.next();
  check('the token was revoked by the test', !answer.done && answer.value.trim() === 'revoked');
  await page.fill('#search', 'Hammer');
  await page.waitForSelector('#signin:not([hidden])', { timeout: 5000 });
  const said = await page.textContent('#signin-error');
  check('a revoked token is told so in words', /revoked/.test(said), said);
  check('the revoked token is forgotten', (await page.evaluate(() => sessionStorage.getItem('stockroom.console.token'))) === null);
  check('the console made no request to any other host', elsewhere.length === 0, elsewhere.join(', '));
  await page.close();
}
