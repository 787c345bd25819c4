// Shared harness for the official @twilio/voice-sdk in headless Chromium, pointed at offhook-lab.
//
// Scenario scripts take one JSON argument and print one JSON line (their findings) on stdout;
// failures print {"error": "..."} and exit 1. The Rust tests in lab/tests/browser.rs run them.
//
// The page is served from https://lab.test/ by request interception (a secure context, so
// getUserMedia works); the SDK is the npm package's dist/twilio.min.js. Each page's
// "microphone" is an oscillator at a chosen frequency, so the lab can tell who is talking.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const here = dirname(fileURLToPath(import.meta.url));
const SDK_PATH = join(here, '..', 'node_modules', '@twilio', 'voice-sdk', 'dist', 'twilio.min.js');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--ignore-certificate-errors',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-background-networking',
  '--autoplay-policy=no-user-gesture-required',
  // The page's origin (https://lab.test, intercepted) counts as public; the lab is on loopback.
  '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights',
];

function checkInstall() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  if (!existsSync(SDK_PATH)) throw new Error(`@twilio/voice-sdk not installed: ${SDK_PATH} (run npm ci in tests/js)`);
}

export async function launchServer() {
  checkInstall();
  return chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** The shared browser (args.browser = its endpoint) or a private one. */
export async function browser(args) {
  checkInstall();
  if (args.browser) return chromium.connect(args.browser);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

const SDK = () => readFileSync(SDK_PATH, 'utf8');

// A short silent WAV for the SDK's sounds (the real ones live on sdk.twilio.com).
function silentWav() {
  const samples = 800;
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples * 2, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24); b.writeUInt32LE(16000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(samples * 2, 40);
  return b;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>offhook-lab SDK page</title>
<script src="https://lab.test/twilio.min.js"></script></head><body>lab</body></html>`;

// Runs in the page before anything else: a microphone that is a tone (unless toneHz is null:
// then the browser's own capture device), and helpers.
function pageInit(toneHz) {
  window.__toneHz = toneHz;
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  if (toneHz !== null) navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.audio) return original(constraints);
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume().catch(() => {});
    const osc = ctx.createOscillator();
    osc.frequency.value = window.__toneHz;
    const gain = ctx.createGain();
    gain.gain.value = 0.4;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    window.__micContexts = (window.__micContexts || []).concat([ctx]);
    return dest.stream;
  };
  // Event log the scenarios read back.
  window.__events = [];
  window.__note = (what, data) => window.__events.push({ t: Date.now(), what, data: data === undefined ? null : data });
  const summary = (x) => {
    if (x === undefined || x === null) return null;
    if (typeof x !== 'object') return x;
    if ('code' in x && 'message' in x) {
      return { code: x.code, name: x.name, message: x.message, original: x.originalError ? { code: x.originalError.code, message: x.originalError.message } : null };
    }
    if ('voiceEventSid' in x) return { content: x.content, contentType: x.contentType, messageType: x.messageType, voiceEventSid: x.voiceEventSid };
    return null;
  };
  window.__watchDevice = (device) => {
    for (const e of ['registered', 'unregistered', 'registering', 'destroyed', 'tokenWillExpire']) {
      device.on(e, () => window.__note('device.' + e));
    }
    device.on('error', (err) => window.__note('device.error', summary(err)));
    device.on('incoming', (call) => {
      window.__incoming = call;
      window.__note('device.incoming', { parameters: call.parameters, customParameters: Object.fromEntries(call.customParameters) });
      window.__watchCall(call);
    });
  };
  window.__volume = { maxIn: 0, maxOut: 0 };
  window.__watchCall = (call) => {
    for (const e of ['accept', 'disconnect', 'cancel', 'reject', 'ringing', 'reconnecting', 'reconnected', 'messageSent', 'messageReceived', 'error']) {
      call.on(e, (x) => window.__note('call.' + e, summary(x)));
    }
    call.on('volume', (input, output) => {
      window.__volume.maxIn = Math.max(window.__volume.maxIn, input);
      window.__volume.maxOut = Math.max(window.__volume.maxOut, output);
    });
  };
  // Dominant frequency and level of a MediaStream (what the browser hears).
  window.__listen = (stream) => {
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    src.connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const state = { maxDb: -200, peakHz: null, samples: 0 };
    const timer = setInterval(() => {
      analyser.getFloatFrequencyData(bins);
      let best = -Infinity, at = 0;
      for (let i = 2; i < bins.length; i++) if (bins[i] > best) { best = bins[i]; at = i; }
      state.samples++;
      if (best > state.maxDb) { state.maxDb = best; state.peakHz = at * ctx.sampleRate / analyser.fftSize; }
    }, 100);
    state.stop = () => { clearInterval(timer); ctx.close(); };
    return state;
  };
}

/**
 * A page with the SDK loaded and a tone microphone.
 * Returns {page, context}. `log` collects console errors for diagnostics.
 */
export async function sdkPage(b, { toneHz = 440, log = [] } = {}) {
  const context = await b.newContext({ ignoreHTTPSErrors: true, permissions: ['microphone'] });
  await context.route('https://sdk.twilio.com/**', (r) => r.fulfill({ status: 200, contentType: 'audio/wav', body: silentWav() }));
  await context.route('https://lab.test/**', (r) => {
    const url = r.request().url();
    if (url.endsWith('/twilio.min.js')) return r.fulfill({ status: 200, contentType: 'application/javascript', body: SDK() });
    if (url.includes('/sounds/')) return r.fulfill({ status: 200, contentType: 'audio/wav', body: silentWav() });
    return r.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
  });
  // Insights must stay off; anything else on the internet is unreachable here anyway.
  await context.route(/eventgw/, (r) => r.abort());
  await context.addInitScript(pageInit, toneHz);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') log.push(m.text()); });
  page.on('pageerror', (e) => log.push(String(e)));
  await page.goto('https://lab.test/');
  await page.waitForFunction(() => !!(window.Twilio && window.Twilio.Device));
  return { page, context };
}

/** Waits for an event (`device.registered`, `call.accept`, …) on the page; returns its data. */
export async function waitEvent(page, what, timeoutMs = 15000) {
  try {
    const handle = await page.waitForFunction((w) => window.__events.find((e) => e.what === w), what, { timeout: timeoutMs, polling: 50 });
    return (await handle.jsonValue()).data;
  } catch (e) {
    const events = await page.evaluate(() => window.__events.map((e) => e.what)).catch(() => []);
    throw new Error(`no ${what} within ${timeoutMs} ms; events so far: ${events.join(', ')}`);
  }
}

/** The page's events so far. */
export const events = (page) => page.evaluate(() => window.__events);

/** Starts listening to a call's remote audio on the page (`window.__heard`). */
export const listenToCall = (page, which = 'window.__call') =>
  page.evaluate((expr) => { window.__heard = window.__listen(eval(expr).getRemoteStream()); }, which);

/** What the page heard: {maxDb, peakHz} plus the SDK's volume peaks. */
export const heard = (page) =>
  page.evaluate(() => ({ maxDb: window.__heard && window.__heard.maxDb, peakHz: window.__heard && window.__heard.peakHz, volume: window.__volume }));

/** Device options pointing the SDK at the lab. */
export function deviceOptions(args, extra = {}) {
  const sounds = {};
  for (const name of ['incoming', 'outgoing', 'disconnect', 'dtmf0', 'dtmf1', 'dtmf2', 'dtmf3', 'dtmf4', 'dtmf5', 'dtmf6', 'dtmf7', 'dtmf8', 'dtmf9', 'dtmfh', 'dtmfs']) {
    sounds[name] = `https://lab.test/sounds/${name}.wav`;
  }
  return { chunderw: args.signaling, publishEvents: false, logLevel: 'warn', sounds, ...extra };
}

/** Calls the lab's control API. */
export async function control(args, method, path, body) {
  const res = await fetch(args.control + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Polls the control API until `pred(calls)` returns something truthy. */
export async function waitForCalls(args, pred, what, timeoutMs = 15000) {
  const start = Date.now();
  for (;;) {
    const calls = await control(args, 'GET', '/v1/calls');
    const found = pred(calls);
    if (found) return found;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(calls)}`);
    await sleep(100);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a scenario: parses argv, prints the result or the error, exits. */
export async function scenario(body) {
  let args;
  try {
    args = JSON.parse(process.argv[2] || '{}');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: `bad arguments: ${e.message}` }) + '\n');
    process.exit(2);
  }
  const log = [];
  const tail = () => log.slice(-15).map((l) => l.slice(0, 400));
  let b;
  const timeout = setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: 'scenario timed out', log: tail() }) + '\n');
    process.exit(1);
  }, args.timeoutMs || 45000);
  try {
    b = await browser(args);
    const result = await body(args, b, log);
    process.stdout.write(JSON.stringify({ ...result, log: tail() }) + '\n');
    clearTimeout(timeout);
    await b.close().catch(() => {});
    process.exit(0);
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack || e), log: tail() }) + '\n');
    clearTimeout(timeout);
    if (b) await b.close().catch(() => {});
    process.exit(1);
  }
}
