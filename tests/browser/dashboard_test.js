// Browser test of the admin dashboard (issue 18): the real binary on
// 127.0.0.1, a loopback webhook receiver, and Debian's chromium in headless
// mode driven by puppeteer-core (which never downloads a browser). One ctest
// entry (browser.dashboard); it fails, never skips, when chromium or the npm
// packages are missing (scripts/install-deps.sh installs both).
//
// Environment: WI_SERVER_BINARY (required), WI_CHROMIUM (default
// /usr/bin/chromium), WI_SCREENSHOT_DIR (where the PNG of each view goes;
// default ./dashboard-screenshots; docs/dashboard/ holds the committed ones).
'use strict';

const assert = require('node:assert/strict');
const {spawn} = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const chromiumPath = process.env.WI_CHROMIUM || '/usr/bin/chromium';
const serverBinary = process.env.WI_SERVER_BINARY;
const shotDir = path.resolve(process.env.WI_SCREENSHOT_DIR || 'dashboard-screenshots');
const adminToken = 'wia_browser_test_admin_token_0123456789';

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

if (!serverBinary || !fs.existsSync(serverBinary))
  fail(`WI_SERVER_BINARY (${serverBinary}) is not a file`);
if (!fs.existsSync(chromiumPath))
  fail(`no chromium at ${chromiumPath}: run scripts/install-deps.sh (Debian package chromium)`);
let puppeteer;
try {
  puppeteer = require('puppeteer-core');
} catch (e) {
  fail('puppeteer-core is not installed: run scripts/install-deps.sh (npm ci in tests/browser)');
}

/// The loopback receiver: 200 on /ok, 410 Gone on /gone.
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({url: req.url, body});
      res.writeHead(req.url === '/gone' ? 410 : 200, {'Content-Type': 'text/plain'});
      res.end(req.url === '/gone' ? 'gone' : 'ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({server, received, port: server.address().port})));
}

/// Starts the binary on 127.0.0.1:0 and resolves once it listens.
function startServer(dataDir) {
  const child = spawn(serverBinary, ['--listen', '127.0.0.1:0', '--data-dir', dataDir,
    '--admin-token', adminToken, '--allow-private-targets'], {stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`server did not listen:\n${output}`)), 20000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timeout);
        resolve({child, port: Number(m[1]), output: () => output});
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
}

async function main() {
  const started = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wi-browser-'));
  const receiver = await startReceiver();
  const server = await startServer(dataDir);
  let serverLog = '';
  server.child.stdout.on('data', (c) => { serverLog += c; });
  server.child.stderr.on('data', (c) => { serverLog += c; });
  const base = `http://127.0.0.1:${server.port}`;
  const origin = new URL(base).origin;

  async function call(method, route, token, body) {
    const resp = await fetch(base + route, {method,
      headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/json'},
      body: body === undefined ? undefined : JSON.stringify(body)});
    const text = await resp.text();
    return {status: resp.status, doc: text ? JSON.parse(text) : null};
  }
  for (let i = 0; ; ++i) { // ready once recovery ended
    const r = await fetch(`${base}/readyz`).catch(() => null);
    if (r && r.status === 200) break;
    if (i > 200) throw new Error('server not ready');
    await new Promise((r2) => setTimeout(r2, 50));
  }

  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-extensions', '--disable-features=Translate,MediaRouter'],
  });
  fs.mkdirSync(shotDir, {recursive: true});
  const problems = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1280, height: 860});
    const requests = [];
    const consoleErrors = [];
    let allow401 = false; // only while the wrong token is tried
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (msg) => {
      if (msg.text().includes(adminToken)) problems.push('the token appeared in the console');
      if (msg.type() !== 'error') return;
      if (allow401 && msg.text().includes('401')) return;
      consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => consoleErrors.push(`request failed: ${req.method()} ${req.url()} ${req.failure() ? req.failure().errorText : ''}`));
    const shot = (name) => page.screenshot({path: path.join(shotDir, `${name}.png`)});
    const waitText = (selector, text, timeout = 10000) => page.waitForFunction(
      (sel, t) => { const el = document.querySelector(sel); return el && el.textContent.includes(t); },
      {timeout, polling: 100}, selector, text);

    // 1. The login page: no API call before login.
    await page.goto(`${base}/admin/ui/`, {waitUntil: 'networkidle0'});
    assert.deepEqual([...new Set(requests.map((u) => new URL(u).pathname))].sort(),
      ['/admin/ui/', '/admin/ui/app.css', '/admin/ui/app.js', '/admin/ui/favicon.svg']);
    assert.ok(await page.$eval('#token', (el) => document.activeElement === el), 'token field focused');
    await shot('login');

    // 2. A wrong token, submitted with Enter: the error in words.
    allow401 = true;
    await page.type('#token', 'wia_wrong');
    await page.keyboard.press('Enter');
    await waitText('#login-error', 'Invalid admin token');
    allow401 = false;
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await shot('login-wrong-token');

    // 3. A tenant created through the API, with two endpoints on the receiver.
    const created = await call('POST', '/admin/v1/tenants', adminToken, {name: 'acme-ui'});
    assert.equal(created.status, 201);
    const tenant = created.doc.data;
    for (const p of ['/ok', '/gone']) {
      const r = await call('POST', '/v1/webhook/endpoints', tenant.token,
        {url: `http://127.0.0.1:${receiver.port}${p}`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
         event_types: ['*']});
      assert.equal(r.status, 201);
    }

    // 4. Log in with the "Log in" button: the tenants list is the landing view.
    await page.$eval('#token', (el) => { el.value = ''; });
    await page.type('#token', adminToken);
    await page.click('#login-button');
    await waitText('#tenants-table', 'acme-ui');
    assert.equal(await page.evaluate(() => location.hash), '#/tenants');
    const storage = await page.evaluate(() => ({s: sessionStorage.getItem('wi_admin_token'),
      l: localStorage.length, c: document.cookie}));
    assert.deepEqual(storage, {s: adminToken, l: 0, c: ''});
    await page.type('#tenant-search', 'ACME');
    await waitText('#tenants-info', 'Page 1 of 1, 1 tenants');
    await shot('tenants');

    // 5. The tenant, its endpoint list, then endpoint 1.
    await page.click('#tenants-table a');
    await waitText('#endpoints-table', `127.0.0.1:${receiver.port}/gone`);
    await shot('tenant');
    await page.click('#endpoints-table tbody tr:first-child a');
    await waitText('#endpoint-status-text', 'Active');

    // 6. A publish shows up as an attempt (HTTP 200) within a refresh or two.
    const published = await call('POST', '/v1/webhook/events', tenant.token,
      {event_type: 'invoice.paid', payload: {amount: 42}});
    assert.equal(published.status, 202, JSON.stringify(published.doc));
    const eventId = published.doc.data.id;
    await waitText('#attempts-table', eventId);
    await waitText('#attempts-table tbody', '200');
    await shot('endpoint');

    // 7. Disable from the UI (with its confirmation): the API says inactive.
    await page.click('#endpoint-disable');
    await page.waitForSelector('#confirm[open]');
    await shot('confirm-disable');
    await page.click('#confirm-ok');
    await waitText('#endpoint-status-text', 'Inactive');
    const ep1 = await call('GET', '/v1/webhook/endpoints/1', tenant.token);
    assert.equal(ep1.doc.data.status, 'inactive');

    // 8. Endpoint 2 answered 410 Gone: the breaker disabled it.
    await page.goto(`${base}/admin/ui/#/tenants/${tenant.id}/endpoints/2`);
    await waitText('#endpoint-status-text', 'Disabled by the breaker');
    await waitText('#endpoint-status-text', '410 Gone');
    await shot('endpoint-disabled');

    // 9. The node view with its charts (two samples make a rate).
    await page.click('#nav-node');
    await page.waitForSelector('#card-uptime');
    await page.waitForFunction(() => document.querySelector('#chart-deliveries polyline')
      && document.querySelector('#chart-deliveries polyline').getAttribute('points').includes(' '),
      {timeout: 10000, polling: 200});
    await waitText('#node-cards', 'Endpoints');
    await shot('node');

    // 10. Only the node was asked, the token never in a URL, no console errors.
    for (const u of requests) {
      if (new URL(u).origin !== origin) problems.push(`request to another origin: ${u}`);
      if (u.includes(adminToken)) problems.push(`token in a URL: ${u}`);
    }
    if (consoleErrors.length) problems.push(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
    receiver.server.close();
  }
  if (serverLog.includes(adminToken)) problems.push('the admin token appeared in the server log');
  fs.rmSync(dataDir, {recursive: true, force: true});
  if (problems.length) fail(problems.join('\n'));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`dashboard browser test: screenshots in ${shotDir}, ${seconds} s`);
  console.log('1 passed, 0 failed');
}

main().catch((e) => fail(e.stack || String(e)));
