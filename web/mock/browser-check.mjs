// Drives the moderation page in headless Chromium against the mock (web/mock/server.py):
// sign-in, hostile text, highlights, keyboard, undo, bulk, failure and retry, live updates,
// filters, languages, pagehide, paging, a revoked key, reconnecting; takes screenshots.
//
//   apt-get install chromium; cd /tmp && npm install playwright-core
//   NODE_PATH=/tmp/node_modules node web/mock/browser-check.mjs     (SHOTS=/dir/ for the screenshots)
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const { chromium } = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + '/' : import.meta.url)('playwright-core');
const SERVER = new URL('./server.py', import.meta.url).pathname;
const BASE = 'http://127.0.0.1:8787/';
const SHOTS = (process.env.SHOTS || '/tmp/web-shots').replace(/\/?$/, '/');
mkdirSync(SHOTS, { recursive: true });
const problems = [];
const log = (...a) => console.log(...a);
function check(cond, msg) { if (!cond) { problems.push(msg); log('FAIL', msg); } else log('ok  ', msg); }

let mock;
function startMock(extra = []) {
  mock = spawn('python3', [SERVER, '--port', '8787', '--quiet', '--hold-every', '0', '--resolve-every', '0', ...extra], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((r) => mock.stdout.once('data', r));
}
async function apiGet(path, key = 'mod-demo') {
  const r = await fetch(BASE + 'api/v1/' + path, { headers: { Authorization: 'Bearer ' + key } });
  return r.json();
}
async function apiPost(path, body, key = 'mod-demo') {
  const r = await fetch(BASE + 'api/v1/' + path, { method: 'POST', headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json', 'X-Saring-Request': '1' }, body: JSON.stringify(body) });
  return r.json();
}
const waitingIds = async (site = 'default') => new Set((await apiGet(`sites/${site}/held?limit=500`)).items.map((i) => i.held_id));

await startMock();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function newPage(viewport, opts = {}) {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: opts.locale || 'en-US', colorScheme: opts.colorScheme || 'light', isMobile: !!opts.mobile, hasTouch: !!opts.mobile });
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
    window.alert = (m) => { window.__alerts = (window.__alerts || 0) + 1; };
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') log('console error:', m.text()); });
  page.on('dialog', (d) => { if (d.type() === 'alert') problems.push('alert dialog fired: ' + d.message()); d.dismiss(); });
  return { ctx, page };
}

async function signIn(page, key = 'mod-demo', name = 'Ann') {
  await page.goto(BASE);
  await page.fill('#key', key);
  await page.fill('#name', name);
  await page.click('#signin-btn');
  await page.waitForSelector('#list .item');
  await page.waitForFunction(() => document.querySelector('#live').dataset.state === 'live');
}

// ---------------------------------------------------------------- desktop
{
  const { ctx, page } = await newPage({ width: 1366, height: 800 });
  await page.goto(BASE);
  await page.waitForSelector('#signin:not([hidden])');
  await page.screenshot({ path: SHOTS + '01-signin-1366.png' });

  // a bad key
  await page.fill('#key', 'nope');
  await page.click('#signin-btn');
  await page.waitForSelector('#signin-error:not([hidden])');
  check((await page.textContent('#signin-error')).includes('UNAUTHENTICATED'), 'bad key shows the server message');

  await signIn(page);
  check(await page.evaluate(() => sessionStorage.getItem('saring.key')) === 'mod-demo', 'key kept in sessionStorage');
  check(await page.evaluate(() => localStorage.getItem('saring.key')) === null, 'key not in localStorage');
  const n = await page.locator('#list .item').count();
  check(n === 40, `40 items listed (${n})`);
  await page.waitForSelector('#chart svg rect.accept');
  await page.screenshot({ path: SHOTS + '02-queue-1366.png' });
  await page.screenshot({ path: SHOTS + '02b-queue-1366-full.png', fullPage: true });

  // hostile content is text
  check(await page.locator('#list script, #list img, #list svg[onload], #list a').count() === 0, 'no script/img/link elements from comments');
  check(await page.locator('#list .content', { hasText: '<script>alert(1)</script>' }).count() === 1, '<script> shown as text');
  check(await page.locator('#list .content', { hasText: '<img src=x onerror=alert(1)>' }).count() === 1, '<img onerror> shown as text');
  check(await page.locator('#list .author', { hasText: '<img src=x onerror=alert(1)>' }).count() === 1, 'hostile author name shown as text');
  check(await page.locator('#list dd', { hasText: 'javascript:alert(document.cookie)' }).count() === 1, 'javascript: URL shown as text');
  // highlight offsets: look-alike letters
  const mg = await page.locator('#list mark.hl.spam', { hasText: '𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗' }).count();
  check(mg >= 1, `look-alike brand highlighted exactly (${mg})`);
  check(await page.locator('#list mark.hl.ham').count() > 5, 'ham-ward highlights present');

  // keyboard: j a u
  const top = await page.locator('#list .item').first().getAttribute('data-id');
  check(await page.evaluate(() => document.querySelector('.item.current')?.dataset.id) === top, 'first item is current after load');
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  const first = await page.evaluate(() => document.querySelector('.item.current')?.dataset.id);
  check(first === top, 'j then k comes back to the first');
  await page.keyboard.press('a');
  check(await page.locator(`.item[data-id="${first}"].pending`).count() === 1, 'a marks pending');
  check(await page.locator('.toast.action').count() === 1, 'undo toast shown');
  await page.screenshot({ path: SHOTS + '03-pending-1366.png' });
  await page.keyboard.press('u');
  check(await page.locator(`.item[data-id="${first}"].pending`).count() === 0, 'u undoes');
  await sleep(5600);
  check((await waitingIds()).has(first), 'undone decision never sent');

  await page.keyboard.press('a');
  await sleep(5800);
  check(await page.locator(`.item[data-id="${first}"]`).count() === 0, 'approved item removed after 5 s');
  check(!(await waitingIds()).has(first), 'server has it resolved');

  // bulk: x j x j x s
  const cur2 = await page.evaluate(() => document.querySelector('.item.current')?.dataset.id);
  await page.keyboard.press('x'); await page.keyboard.press('j'); await page.keyboard.press('x'); await page.keyboard.press('j'); await page.keyboard.press('x');
  const sel = await page.evaluate(() => [...document.querySelectorAll('.item.selected')].map((e) => e.dataset.id));
  check(sel.length === 3 && sel[0] === cur2, 'x selects three');
  await page.screenshot({ path: SHOTS + '04-selected-1366.png' });
  await page.keyboard.press('s');
  check(await page.locator('.item.pending').count() === 3, 'three pending');
  await sleep(5800);
  const w = await waitingIds();
  check(sel.every((id) => !w.has(id)), 'bulk reject sent');

  // shift-click range
  const boxes = page.locator('#list .item .sel-cb');
  await boxes.nth(1).click();
  await boxes.nth(5).click({ modifiers: ['Shift'] });
  check(await page.locator('.item.selected').count() === 5, 'shift-click selects a range');
  await page.keyboard.press('Escape');
  check(await page.locator('.item.selected').count() === 0, 'Escape clears selection');

  // failure and retry
  await page.route('**/resolve', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'store timeout' } }) }));
  const target = await page.evaluate(() => document.querySelector('.item.current')?.dataset.id);
  await page.keyboard.press('r');
  await sleep(5800);
  check(await page.locator(`.item[data-id="${target}"].failed`).count() === 1, 'failed call leaves item marked failed');
  check(await page.locator('#retry-all:not([hidden])').count() === 1, 'retry-all shown');
  await page.locator(`.item[data-id="${target}"]`).scrollIntoViewIfNeeded();
  await page.screenshot({ path: SHOTS + '05-failed-1366.png' });
  await page.unroute('**/resolve');
  await page.locator(`.item[data-id="${target}"] button[data-act="retry"]`).click();
  await page.waitForSelector(`.item[data-id="${target}"]`, { state: 'detached', timeout: 5000 });
  check(!(await waitingIds()).has(target), 'retry succeeded');

  // live: resolved elsewhere, and a new held item
  const ids = [...(await waitingIds())];
  const victim = ids[ids.length - 1];
  await apiPost('sites/default/resolve', { held_ids: [victim], verdict: 'approve', moderator: 'dimas' });
  await page.waitForSelector(`.item[data-id="${victim}"]`, { state: 'detached', timeout: 3000 });
  check(true, 'resolved elsewhere disappears live');
  await page.waitForSelector('.toast.note', { timeout: 3000 });
  await page.screenshot({ path: SHOTS + '06-live-note-1366.png' });

  // conflict: pending locally, resolved elsewhere before send
  const c = await page.evaluate(() => document.querySelector('.item.current')?.dataset.id);
  await page.keyboard.press('s');
  await apiPost('sites/default/resolve', { held_ids: [c], verdict: 'approve', moderator: 'dimas' });
  await page.waitForSelector(`.item[data-id="${c}"]`, { state: 'detached', timeout: 3000 });
  check(true, 'pending item resolved elsewhere is removed with a note');

  // filters
  await page.selectOption('#f-reason', 'rule.campaign');
  await page.waitForFunction(() => document.querySelectorAll('#list .item').length > 0 && [...document.querySelectorAll('#list .item')].every((e) => e.textContent.includes('rule.campaign')));
  check(true, 'reason filter');
  await page.fill('#f-min', '90');
  await page.press('#f-min', 'Tab');
  await sleep(700);
  const probs = await page.$$eval('#list .item .prob-num', (els) => els.map((e) => e.textContent));
  log('probs with min 90:', probs.join(' '));
  await page.screenshot({ path: SHOTS + '07-filtered-1366.png' });
  await page.click('#f-clear');
  await sleep(700);

  // language
  await page.selectOption('.top .lang-select', 'id');
  check((await page.textContent('#queue-h')).includes('Komentar ditahan'), 'switch to Indonesian');
  await page.screenshot({ path: SHOTS + '08-indonesian-1366.png' });
  await page.selectOption('.top .lang-select', 'en');

  // help
  await page.keyboard.press('?');
  check(await page.locator('#help[open]').count() === 1, '? opens help');
  await page.screenshot({ path: SHOTS + '09-help-1366.png' });
  await page.keyboard.press('Escape');

  // pagehide flush: decide, then leave at once
  const leave = await page.evaluate(() => document.querySelector('.item.current')?.dataset.id);
  await page.keyboard.press('a');
  await page.goto('about:blank');
  await sleep(800);
  check(!(await waitingIds()).has(leave), 'pending decision sent on pagehide (keepalive)');

  // reload keeps the session (same tab), sign out forgets it
  await page.goto(BASE);
  await page.waitForSelector('#list .item');
  check(true, 'reload in the same tab stays signed in');
  await page.click('#signout-btn');
  await page.waitForSelector('#signin:not([hidden])');
  check(await page.evaluate(() => sessionStorage.getItem('saring.key')) === null, 'sign out clears the key');

  const v = await page.evaluate(() => [window.__violations, window.__alerts || 0]);
  check(v[0].length === 0, 'no CSP violations ' + JSON.stringify(v[0]));
  check(v[1] === 0, 'no alert() ran');
  await ctx.close();
}

// ---------------------------------------------------------------- reconnect
{
  const { ctx, page } = await newPage({ width: 1366, height: 800 });
  await signIn(page);
  mock.kill();
  await page.waitForFunction(() => document.querySelector('#live').dataset.state !== 'live', null, { timeout: 10000 });
  await page.screenshot({ path: SHOTS + '10-reconnecting-1366.png', clip: { x: 0, y: 0, width: 1366, height: 120 } });
  await startMock(['--hold-every', '3']);
  await page.waitForFunction(() => document.querySelector('#live').dataset.state === 'live', null, { timeout: 40000 });
  check(true, 'reconnects after the server comes back');
  const before = await page.locator('#list .item').count();
  await page.waitForFunction((b) => document.querySelectorAll('#list .item').length > b, before, { timeout: 10000 });
  check(true, 'new held comment appears live');
  await ctx.close();
}

// ---------------------------------------------------------------- paging, key refused mid-session
{
  const { ctx, page } = await newPage({ width: 1366, height: 800 });
  await page.route('**/held?*', (route) => route.continue({ url: route.request().url().replace(/limit=\d+/, 'limit=7') }));
  await signIn(page);
  await page.waitForFunction(() => document.querySelectorAll('#list .item').length >= 7);
  const n0 = await page.locator('#list .item').count();
  for (let i = 0; i < 60; i++) { await page.keyboard.press('End'); await page.mouse.wheel(0, 4000); await sleep(150); }
  const n1 = await page.locator('#list .item').count();
  const seqs = await page.$$eval('#list .item', (els) => els.map((e) => e.dataset.id));
  check(n1 > n0 && new Set(seqs).size === seqs.length, `paging loads more on scroll without repeats (${n0} -> ${n1})`);
  const bd = await page.evaluate(() => { document.getElementById('help').showModal(); const c = getComputedStyle(document.getElementById('help'), '::backdrop').backgroundColor; document.getElementById('help').close(); return c; });
  log('backdrop colour:', bd);

  await page.keyboard.press('Home');
  await page.keyboard.press('a');   // a decision pending when the key stops working
  await page.route('**/api/v1/**', (route) => route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'key revoked' } }) }));
  mock.kill();
  await page.waitForSelector('#signin:not([hidden])', { timeout: 20000 });
  check((await page.textContent('#signin-error')).includes('key revoked'), 'revoked key mid-session shows sign-in with the message');
  check(await page.isVisible('#signin-note'), 'sign-in says unsaved decisions are kept');
  await page.screenshot({ path: SHOTS + '16-key-refused-1366.png' });
  await sleep(6000);  // the pending decision fails with 401 meanwhile
  await page.unroute('**/api/v1/**');
  await page.unroute('**/held?*');
  await startMock();
  await page.fill('#key', 'mod-demo');
  await page.click('#signin-btn');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#live').dataset.state === 'live', null, { timeout: 20000 });
  await sleep(1500);
  check(await page.locator('.item.failed').count() === 0, 'failed decision retried after signing in again');
  await ctx.close();
}

// ---------------------------------------------------------------- phone
{
  const { ctx, page } = await newPage({ width: 390, height: 844 }, { mobile: true });
  await page.goto(BASE);
  await page.waitForSelector('#signin:not([hidden])');
  await page.screenshot({ path: SHOTS + '11-signin-390.png' });
  await signIn(page, 'admin-demo', '');
  await page.screenshot({ path: SHOTS + '12-queue-390.png' });
  await page.evaluate(() => document.querySelectorAll('#list .item')[1].scrollIntoView());
  await page.screenshot({ path: SHOTS + '13-queue-390-scrolled.png' });
  await page.locator('#list .item .sel-cb').nth(0).check();
  await page.locator('#list .item .sel-cb').nth(1).check();
  await page.screenshot({ path: SHOTS + '14-selected-390.png' });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, 'no horizontal overflow on phone (' + overflow + ')');
  await ctx.close();
}

// ---------------------------------------------------------------- dark, Indonesian browser, 200% zoom
{
  const { ctx, page } = await newPage({ width: 683, height: 400 }, { locale: 'id-ID', colorScheme: 'dark' });
  await signIn(page, 'mod-myblog', 'Sari');
  check((await page.textContent('#queue-h')).includes('Komentar ditahan'), 'Indonesian chosen from navigator.languages');
  await page.screenshot({ path: SHOTS + '15-dark-id-zoom200.png' });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, 'no horizontal overflow at 200% zoom (' + overflow + ')');
  await ctx.close();
}

await browser.close();
mock.kill();
log(problems.length ? `\n${problems.length} PROBLEM(S):\n` + problems.join('\n') : '\nall checks passed');
process.exit(problems.length ? 1 : 0);
