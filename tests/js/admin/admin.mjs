// offhook-server's web interface (/admin) in Debian's headless Chromium, for
// tests/tests/admin_browser.rs, which runs the server, the lab and the handset and calls the
// steps below in order, doing the phone's side in between.
//
// Usage: node admin.mjs '{"base":"http://127.0.0.1:PORT/admin","screenshots":"DIR"}'
// then one JSON command a line on stdin, {"step":"NAME", ...arguments}, each answered by one
// JSON line on stdout: {"ok": RESULT} or {"error": "what went wrong"}. Closing stdin closes the
// browser and ends the script (it never outlives the test that started it).
//
// Screenshots of the main pages go to `screenshots` as NAME-1280.png and NAME-360.png (a
// desktop window and a phone's). The pages run no scripts of their own (their
// Content-Security-Policy allows none): the checks below read the DOM through Playwright.
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const config = JSON.parse(process.argv[2] || '{}');
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 360, height: 780 };
/** How long a page may take to show what a step waits for. */
const PATIENCE_MS = config.patienceMs || 30000;

if (!existsSync(CHROMIUM)) {
  process.stdout.write(JSON.stringify({ error: `Chromium not found at ${CHROMIUM} (set CHROMIUM)` }) + '\n');
  process.exit(1);
}
if (config.screenshots) mkdirSync(config.screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--autoplay-policy=no-user-gesture-required', '--font-render-hinting=none'],
});
const context = await browser.newContext({ viewport: WIDE, deviceScaleFactor: 1, locale: 'en-GB' });
const page = await context.newPage();
page.setDefaultTimeout(PATIENCE_MS);
// Anything a page would pop up (an injected alert, a confirm) is noted and dismissed.
const dialogs = [];
page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });

const url = (path) => config.base + path;

/** Retries `check` (reloading the page first when `reload`) until it gives a value. */
async function until(what, check, { reload = true, timeoutMs = PATIENCE_MS } = {}) {
  const end = Date.now() + timeoutMs;
  let last = 'not checked';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (e) {
      last = String(e && e.message || e);
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last}) at ${page.url()}`);
    await new Promise((r) => setTimeout(r, 300));
    if (reload) await page.reload({ waitUntil: 'load' });
  }
}

const text = async (selector) => ((await page.locator(selector).first().textContent()) || '').trim();

/** The page at both widths, scrolled to `focus` (a selector) when given, else to the top. */
async function shoot(name, focus) {
  if (!config.screenshots) return [];
  const paths = [];
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    if (focus) await page.locator(focus).first().evaluate((el) => el.scrollIntoView({ block: 'start' }));
    else await page.evaluate(() => window.scrollTo(0, 0));
    const path = `${config.screenshots}/${name}-${size.width}.png`;
    await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
    paths.push(path);
  }
  await page.setViewportSize(WIDE);
  return paths;
}

async function heading() {
  return text('h1');
}

/** Nothing the page showed ran as script: no dialog, no script element. */
async function noScripts(where) {
  const scripts = await page.locator('script').count();
  if (dialogs.length || scripts) {
    throw new Error(`${where}: a script ran or was planted (dialogs ${JSON.stringify(dialogs)}, ${scripts} <script>)`);
  }
}

const steps = {
  /** The one-time setup link makes the first admin, who is then signed in. */
  async create_admin({ link, username, password }) {
    await page.goto(link);
    if (await heading() !== 'Create the admin account') throw new Error(`setup page says ${await heading()}`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.fill('#password2', password);
    await Promise.all([page.waitForNavigation(), page.click('#create-admin')]);
    await page.locator('#sign-out').waitFor();
    return { heading: await heading(), url: page.url() };
  },

  /** Signs out, then in again through the sign-in page. */
  async sign_in({ username, password }) {
    await Promise.all([page.waitForNavigation(), page.click('#sign-out')]);
    if (await heading() !== 'Sign in') throw new Error(`after sign-out: ${await heading()}`);
    // A wrong password is refused with a message, and nobody is signed in.
    await page.fill('#username', username);
    await page.fill('#password', `${password}-wrong`);
    await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
    const refused = await text('#error');
    if (!refused || await page.locator('#sign-out').count()) throw new Error('a wrong password signed in');
    await page.goto(url('/login'));
    await shoot('sign-in');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
    await page.locator('#sign-out').waitFor();
    return { heading: await heading(), refused };
  },

  /** Adds a handset; its secret and offhook.toml, shown once, and the QR code. */
  async add_handset({ name, device_id, extension }) {
    await page.goto(url('/handsets'));
    await Promise.all([page.waitForNavigation(), page.click('#add-handset')]);
    await page.fill('#name', name);
    await page.fill('#device_id', device_id);
    await page.fill('#extension', extension);
    const serverUrl = await page.inputValue('#server_url');
    await Promise.all([page.waitForNavigation(), page.click('#create-handset')]);
    const secret = await text('#device-secret');
    const toml = (await page.locator('#offhook-toml').textContent()) || '';
    // The QR code is an image the browser could decode.
    const qr = await page.locator('#qr-code').evaluate((img) => ({
      complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    }));
    if (!qr.complete || qr.width < 100) throw new Error(`the QR code did not load: ${JSON.stringify(qr)}`);
    await shoot('new-handset', '#offhook-toml');
    return { secret, toml, serverUrl, qr };
  },

  /** Waits (reloading) until the handsets list shows the handset online and registered. */
  async wait_online({ device_id }) {
    await page.goto(url('/handsets'));
    const row = `#handset-${device_id}`;
    const cells = await until(`${device_id} online and registered`, async () => {
      const online = await text(`${row} .online`);
      const registration = await text(`${row} .registration`);
      const firmware = await text(`${row} .firmware`);
      if (online === 'online' && registration.startsWith('registered') && firmware !== '—') {
        return { online, registration, firmware, address: await text(`${row} .address`) };
      }
      throw new Error(`online ${online}, registration ${registration}, firmware ${firmware}`);
    });
    await shoot('handsets');
    return cells;
  },

  /** Sets a speed dial and a contact on the handset's page. */
  async set_speed_dial({ device_id, key, number, contact }) {
    await page.goto(url(`/handsets/${device_id}`));
    await page.fill(`#speed-${key}`, number);
    await Promise.all([page.waitForNavigation(), page.click('#save-speed-dials')]);
    const saved = await text('#notice');
    if (contact) {
      await page.fill('#contact-name-1', contact.name);
      await page.fill('#contact-number-1', contact.number);
      await Promise.all([page.waitForNavigation(), page.click('#save-contacts')]);
    }
    const sent = JSON.parse((await page.locator('#config-json').textContent()) || '{}');
    await shoot('handset');
    await shoot('handset-speed-dials', '#speed-dials');
    return { saved, speed_dial: sent.speed_dial, contacts: sent.contacts, value: await page.inputValue(`#speed-${key}`) };
  },

  /** The message from `caller` is listed, its caller shown as text, and it plays. */
  async voicemail({ caller }) {
    await page.goto(url('/voicemail'));
    const row = await until(`a message from ${caller}`, async () => {
      const rows = page.locator('tr[id^="message-"]');
      for (let i = 0; i < await rows.count(); i++) {
        const r = rows.nth(i);
        if (((await r.locator('.caller').textContent()) || '').trim() === caller) return r;
      }
      throw new Error(`${await rows.count()} messages`);
    });
    await noScripts('the voicemail page');
    const audio = row.locator('audio');
    const src = await audio.getAttribute('src');
    // The recording, through the server: a WAV file.
    const response = await page.request.get(new URL(src, page.url()).href);
    const body = await response.body();
    const wav = {
      status: response.status(),
      type: response.headers()['content-type'],
      riff: body.subarray(0, 4).toString('latin1') === 'RIFF' && body.subarray(8, 12).toString('latin1') === 'WAVE',
      bytes: body.length,
    };
    // The player loads it and plays.
    await audio.evaluate((el) => { el.muted = true; el.load(); });
    const loaded = await until('the player to load the message', () => audio.evaluate((el) => (
      el.readyState >= 1 && Number.isFinite(el.duration) && el.duration > 0
        ? { readyState: el.readyState, duration: el.duration } : null)), { reload: false });
    await audio.evaluate((el) => el.play());
    const played = await until('the message to play', () => audio.evaluate((el) => (
      el.currentTime > 0.2 ? { currentTime: el.currentTime, error: el.error && el.error.code } : null)), { reload: false });
    await audio.evaluate((el) => el.pause());
    await shoot('voicemail');
    return { wav, loaded, played, caller: ((await row.locator('.caller').textContent()) || '').trim() };
  },

  /** Waits (reloading) until the call log has a row with every field of `row`; searches. */
  async call_log({ rows, search }) {
    await page.goto(url('/calls'));
    const found = [];
    for (const want of rows) {
      found.push(await until(`a call ${JSON.stringify(want)}`, async () => {
        const all = await page.locator('#call-log tbody tr').evaluateAll((trs) => trs.map((tr) => ({
          time: tr.querySelector('th').textContent.trim(),
          ...Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.label.toLowerCase(), td.textContent.trim()])),
        })));
        const hit = all.find((r) => Object.entries(want).every(([k, v]) => r[k] === v));
        if (hit) return hit;
        throw new Error(`rows ${JSON.stringify(all)}`);
      }));
    }
    await noScripts('the call log');
    await shoot('call-log');
    let searched = null;
    if (search) {
      await page.fill('#q', search);
      await Promise.all([page.waitForNavigation(), page.click('#search')]);
      searched = await page.locator('#call-log tbody tr').count();
    }
    return { found, searched };
  },

  async system() {
    await page.goto(url('/system'));
    await shoot('system');
    return { heading: await heading(), text: ((await page.locator('main').textContent()) || '').replace(/\s+/g, ' ').trim() };
  },

  /** Signs out; the pages then send the browser to sign in. */
  async sign_out() {
    await Promise.all([page.waitForNavigation(), page.click('#sign-out')]);
    const after = await heading();
    await page.goto(url('/handsets'));
    return { after, then: await heading(), url: page.url() };
  },
};

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  await browser.close().catch(() => {});
  process.exit(0);
}

const lines = createInterface({ input: process.stdin });
lines.on('close', close);
process.on('SIGTERM', close);
process.stdout.write(JSON.stringify({ ok: 'ready' }) + '\n');
// One command at a time, in order.
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      const { step, ...args } = JSON.parse(line);
      if (!steps[step]) throw new Error(`no step ${step}`);
      answer = { ok: await steps[step](args) };
    } catch (e) {
      answer = { error: String(e && e.stack || e) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
