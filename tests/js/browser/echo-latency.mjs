// The official SDK on a call to the echo number with Chromium's own audio path, for
// tests/bench/audio (audio-bench latency): no fake capture device and no oscillator, so the
// page's microphone is PulseAudio's default source and its output PulseAudio's default sink
// (the bench sets PULSE_SERVER to its private server, whose defaults are `mic`'s monitor and
// `ear`). Args: {signaling, token, to, talkMs}. Prints {"accepted": true} once the call is up,
// then, after talkMs, one JSON line with the codec and the SDK's volume peaks.
import { createRequire } from 'node:module';
import { CHROMIUM, CHROMIUM_ARGS, sdkPage, deviceOptions, waitEvent, sleep } from './lib.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');

let b;
let page;
try {
  const args = JSON.parse(process.argv[2] || '{}');
  b = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS.filter((a) => a !== '--use-fake-device-for-media-stream'),
    // Playwright mutes headless browsers by default; the bench records what it plays.
    ignoreDefaultArgs: ['--mute-audio'],
  });
  const log = [];
  ({ page } = await sdkPage(b, { toneHz: null, log }));
  await page.evaluate(async ({ token, options, to }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    const call = await device.connect({ params: { To: to } });
    window.__call = call;
    window.__watchCall(call);
  }, { token: args.token, options: deviceOptions(args), to: args.to });
  await waitEvent(page, 'call.accept', 20000);
  out({ accepted: true });
  await sleep(args.talkMs);
  const codec = await page.evaluate(async () => {
    const stats = await window.__call._mediaHandler.version.pc.getStats();
    let mime = null;
    stats.forEach((s) => { if (s.type === 'codec' && s.mimeType && s.mimeType.startsWith('audio/') && !s.mimeType.includes('telephone')) mime = mime || s.mimeType; });
    return mime;
  }).catch(() => null);
  const volume = await page.evaluate(() => window.__volume);
  await page.evaluate(() => window.__call.disconnect());
  await waitEvent(page, 'call.disconnect');
  await page.evaluate(() => window.__device.destroy());
  out({ codec, volume, log: log.slice(-10) });
  await b.close();
  process.exit(0);
} catch (e) {
  const seen = page ? await page.evaluate(() => window.__events).catch(() => null) : null;
  out({ error: String((e && e.stack) || e), events: seen });
  if (b) await b.close().catch(() => {});
  process.exit(1);
}
