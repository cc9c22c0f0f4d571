// Shared pieces of the browser tests: the browser, test users, the SES emulator's store, and the
// checks every screen must pass (axe-core, same-origin requests only, size, layout shift, lang).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WATCH_URL = (process.env.WATCH_URL ?? 'http://127.0.0.1:9000').replace(/\/$/, '');
export const PUBLIC_BASE_URL = (process.env.PUBLIC_BASE_URL ?? WATCH_URL).replace(/\/$/, '');
export const SES_STORE_URL = (process.env.SES_STORE_URL ?? 'http://127.0.0.1:8005').replace(/\/$/, '');
export const SIGN_IN_URL = process.env.SIGN_IN_URL ?? null;
export const SCREENSHOT_DIR = path.join(ROOT, '.local', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };
/** Every page, with its stylesheet and script, must stay under this. */
export const PAGE_BUDGET_BYTES = 30 * 1024;

/** A password that meets every rule and is not on the common list. */
export const GOOD_PASSWORD = 'Kanagawa2026x';

const AXE_SOURCE = fs.readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export async function launchBrowser() {
  // Debian's Chromium, never a downloaded build. Playwright gives it a fresh, temporary
  // user-data-dir of its own and deletes it on close.
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * One headless Chromium for the tests of the enclosing `describe`: launched before them and
 * closed after. Read `suite.browser` inside a test (it is set once the suite starts).
 */
export function browserForSuite() {
  const suite = { browser: null };
  before(async () => {
    suite.browser = await launchBrowser();
  });
  after(async () => {
    await suite.browser?.close();
  });
  return suite;
}

/**
 * A browser context (one "person") that records every request its pages make and every
 * console error (a CSP violation shows up as one).
 */
export async function openPerson(browser, { locale = 'ja-JP', javaScriptEnabled = true, headers } = {}) {
  const context = await browser.newContext({
    locale,
    javaScriptEnabled,
    viewport: DESKTOP,
    deviceScaleFactor: 1,
    extraHTTPHeaders: headers,
    timezoneId: 'Asia/Tokyo',
  });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(60_000);
  const page = await context.newPage();
  const person = { context, page, requests: [], consoleErrors: [], javaScriptEnabled, assetBytes: new Map() };
  page.on('request', (request) => person.requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') person.consoleErrors.push({ text: message.text(), url: message.location().url });
  });
  page.on('pageerror', (error) => person.consoleErrors.push({ text: String(error), url: page.url() }));
  page.on('response', async (response) => {
    const url = response.url();
    if (url.includes('/password-reset/assets/')) {
      try {
        person.assetBytes.set(url, (await response.body()).length);
      } catch {
        // A response that is gone by the time it is read (navigation): nothing to measure.
      }
    }
  });
  return person;
}

/** Eight lower-case alphanumerics starting with "b", fresh for every test. */
export function randomUsername() {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let name = 'b';
  for (let i = 0; i < 7; i += 1) name += alphabet[randomInt(alphabet.length)];
  return name;
}

/** Creates a user with the admin CLI (the environment of scripts/test.sh is already exported). */
/** Runs reset-admin with the test stack's environment: the binary make test built once
 * (RESET_ADMIN_BIN), or, run alone, through cargo. Resolves to its standard output. */
export async function runResetAdmin(args) {
  const [command, prefix] = process.env.RESET_ADMIN_BIN
    ? [process.env.RESET_ADMIN_BIN, []]
    : ['cargo', ['run', '-q', '-p', 'reset-admin', '--']];
  const { stdout } = await promisify(execFile)(command, [...prefix, ...args], { cwd: ROOT, maxBuffer: 1 << 20 });
  return stdout;
}

export async function createUser(language = 'ja') {
  const username = randomUsername();
  const email = `${username}@example.jp`;
  const args = ['user', 'create', username, '--email', email];
  if (language === 'en') args.push('--language', 'en');
  await runResetAdmin(args);
  return { username, email };
}

/** The mails the SES emulator received for one address, oldest first; waits for `count`. */
export async function waitForMails(address, count = 1, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${SES_STORE_URL}/store`);
    assert.equal(response.status, 200, 'the SES emulator store answers');
    const { emails } = await response.json();
    const mine = emails
      .filter((mail) => (mail.destination?.to ?? []).some((to) => to.includes(address)))
      .sort((a, b) => a.at - b.at);
    if (mine.length >= count) return mine;
    if (Date.now() > deadline) {
      assert.fail(`expected ${count} mail(s) to ${address} within ${timeoutMs} ms, got ${mine.length}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The reset link of a mail's text part; it must be built on PUBLIC_BASE_URL. */
export function resetLinkOf(mail) {
  const text = mail.body?.text ?? '';
  const match = text.match(/https?:\/\/[^\s<>"]+\/password-reset\/confirm\?token=[A-Za-z0-9_-]+/);
  assert.ok(match, `no reset link in the mail text:\n${text}`);
  assert.ok(match[0].startsWith(`${PUBLIC_BASE_URL}/password-reset/confirm?token=`), `link on ${PUBLIC_BASE_URL}`);
  return match[0];
}

export function url(pathAndQuery) {
  return `${WATCH_URL}${pathAndQuery}`;
}

/**
 * Submits a form by `action` (a click, Enter) and waits for the page it leads to. A 403 here
 * means the service took our own form for a cross-site one: say so at once instead of timing out.
 */
export async function submitForm(page, action) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    action(),
  ]);
  assert.notEqual(
    response.status(),
    403,
    `POST ${response.url()} from the service's own page was refused as cross-origin ` +
      '(a browser sends "Origin: null" on every POST from a page with Referrer-Policy: no-referrer)',
  );
  await page.waitForLoadState('load');
  return response;
}

/**
 * The steps of one story, run in order as subtests of `t`; once one fails the rest are skipped
 * (they would only time out on a page that never came).
 */
export function steps(t) {
  let failed = null;
  return (name, fn) =>
    t.test(name, { skip: failed ? `the step "${failed}" failed` : false }, async (st) => {
      try {
        await fn(st);
      } catch (error) {
        failed = name;
        throw error;
      }
    });
}

/** Runs axe-core in the page and requires zero violations. */
export async function expectNoAxeViolations(page, screen) {
  // Evaluated through the DevTools protocol, which the page's strict CSP (script-src 'self')
  // does not govern; the page itself keeps its CSP for everything else.
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }),
  );
  const violations = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`).join('\n    ')}`,
  );
  assert.deepEqual(violations, [], `axe-core violations on "${screen}"`);
  return results;
}

/** The sum of layout-shift scores since the page loaded (0 means nothing moved). */
export async function layoutShift(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        let total = 0;
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
        }).observe({ type: 'layout-shift', buffered: true });
        setTimeout(() => resolve(total), 250);
      }),
  );
}

/**
 * The checks of every screen: the right language, the heading, only same-origin requests, no
 * console errors (CSP), the sign-in link, the size budget, no layout shift, zero axe violations.
 */
export async function checkScreen(person, screen, { lang, title, status = 200 }) {
  const { page } = person;
  assert.equal(await page.getAttribute('html', 'lang'), lang, `${screen}: <html lang>`);
  const h1 = (await page.locator('h1').innerText()).trim();
  assert.equal(h1, title, `${screen}: heading`);

  const origin = new URL(WATCH_URL).origin;
  const foreign = person.requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], `${screen}: requests to other origins`);
  // Chromium reports a 4xx document as a console error: expected for the error pages, nothing else.
  const expected = `the server responded with a status of ${status}`;
  // Chromium also asks for /favicon.ico by itself (not the page: no request event); the service
  // has no icon, so that 404 is expected too.
  const errors = person.consoleErrors
    .filter((e) => !(status !== 200 && e.text.includes(expected) && e.url === page.url()))
    .filter((e) => !(new URL(e.url || WATCH_URL).pathname === '/favicon.ico' && e.text.includes('status of 404')))
    .map((e) => `${e.text} (${e.url})`);
  person.consoleErrors.length = 0;
  assert.deepEqual(errors, [], `${screen}: console errors (CSP violations, 404s, script errors)`);

  const footerLink = page.locator('footer a');
  assert.equal(await footerLink.count(), 1, `${screen}: a link back to sign-in`);
  if (SIGN_IN_URL) assert.equal(await footerLink.getAttribute('href'), SIGN_IN_URL, `${screen}: sign-in URL`);

  if (person.javaScriptEnabled) {
    const htmlBytes = await page.evaluate(() => performance.getEntriesByType('navigation')[0].decodedBodySize);
    const assets = [...person.assetBytes.values()].reduce((a, b) => a + b, 0);
    assert.ok(htmlBytes > 0, `${screen}: page size measured`);
    assert.ok(htmlBytes + assets < PAGE_BUDGET_BYTES, `${screen}: ${htmlBytes} B page + ${assets} B assets over budget`);
    const shift = await layoutShift(page);
    assert.equal(shift, 0, `${screen}: cumulative layout shift`);
    await expectNoAxeViolations(page, screen);
  }
}

/** Full-page screenshots at desktop and phone width into .local/screenshots/. */
export async function screenshots(page, name) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

/** Presses Tab until `predicate(activeElement)` holds; returns how many presses it took. */
export async function tabUntil(page, description, predicate, max = 12) {
  for (let presses = 1; presses <= max; presses += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(predicate)) return presses;
  }
  assert.fail(`Tab never reached ${description}`);
}

/** The focused element shows a visible outline of at least 2 px. */
export async function expectVisibleFocus(page, what) {
  const outline = await page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  assert.notEqual(outline.style, 'none', `${what}: focus outline`);
  assert.ok(outline.width >= 2, `${what}: focus outline ${outline.width}px wide`);
}

/** The live checklist as the person sees it: each rule's visible state word. */
export async function checklist(page) {
  return page.$$eval('#policy-checklist li[data-rule]', (items) =>
    Object.fromEntries(
      items.map((item) => [
        item.getAttribute('data-rule'),
        { state: item.querySelector('.rule-state').innerText.trim(), text: item.querySelector('.rule-text').innerText.trim() },
      ]),
    ),
  );
}

/**
 * The checks of assets/policy.js in their order, read from the script itself: the source that
 * tests/api/policy_drift.rs holds equal to the server's checklist (`web::pages::checklist`).
 */
function policyScriptRules() {
  const script = fs.readFileSync(path.join(ROOT, 'functions', 'reset-core', 'assets', 'policy.js'), 'utf8');
  const start = script.indexOf('var rules = {');
  const end = script.indexOf('};', start);
  assert.ok(start >= 0 && end > start, 'policy.js: no `var rules = { … };` block');
  const rules = [...script.slice(start, end).matchAll(/^\s*([a-z_]+):\s*function/gm)].map((m) => m[1]);
  assert.ok(rules.length > 0, 'policy.js checks no rule');
  return rules;
}

/**
 * The rules of the live checklist as the page lists them: policy.js's checks, less `symbol`, which
 * the page shows only where the pool requires symbols (a Cognito pool; not the test stack's store).
 */
export const CHECKLIST_RULES = policyScriptRules().filter((rule) => rule !== 'symbol');

/**
 * Password cases that each break one rule of the checklist (for a given username): one per rule,
 * so a rule added to policy.js without a case here fails every test that uses them.
 */
export function failingCases(username) {
  const cases = failingCasesFor(username);
  assert.deepEqual(
    cases.map((c) => c.rule),
    CHECKLIST_RULES,
    'failingCases: one case per checklist rule of policy.js, in its order',
  );
  return cases;
}

function failingCasesFor(username) {
  return [
    { rule: 'min_length', password: 'Kana20x', confirmation: 'Kana20x' },
    { rule: 'uppercase', password: 'kanagawa2026x', confirmation: 'kanagawa2026x' },
    { rule: 'lowercase', password: 'KANAGAWA2026X', confirmation: 'KANAGAWA2026X' },
    { rule: 'digit', password: 'Kanagawaxyz', confirmation: 'Kanagawaxyz' },
    { rule: 'half_width_only', password: 'Kanagawa2026ｘ', confirmation: 'Kanagawa2026ｘ' },
    { rule: 'not_username', password: `Xy9${username}`, confirmation: `Xy9${username}` },
    { rule: 'confirmation_matches', password: GOOD_PASSWORD, confirmation: 'Kanagawa2026y' },
  ];
}

/** A username typed in full-width characters with ideographic spaces around it. */
export function fullWidth(username) {
  const folded = [...username].map((c) => String.fromCodePoint(c.codePointAt(0) - 0x21 + 0xff01)).join('');
  return `\u3000${folded}\u3000`;
}
