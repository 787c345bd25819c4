// Refused tokens: what the SDK reports. Args: {signaling, tokens: {name: jwt}, precision}.
// For each token: the Device `error` event (code, name) and how register() ended.
import { scenario, sdkPage, deviceOptions, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { log });
  const results = {};
  for (const [name, token] of Object.entries(args.tokens)) {
    results[name] = await page.evaluate(async ({ token, options }) => {
      window.__events = [];
      const device = new Twilio.Device(token, options);
      window.__watchDevice(device);
      let outcome;
      try {
        await Promise.race([device.register(), new Promise((_, reject) => setTimeout(() => reject(new Error('register still pending after 8 s')), 8000))]);
        outcome = 'registered';
      } catch (e) {
        outcome = 'rejected: ' + (e && e.message);
      }
      await new Promise((r) => setTimeout(r, 300));
      const errors = window.__events.filter((e) => e.what === 'device.error').map((e) => e.data);
      const state = device.state;
      device.destroy();
      return { outcome, errors, state };
    }, { token, options: deviceOptions(args, { enableImprovedSignalingErrorPrecision: !!args.precision }) });
    await sleep(50);
  }
  return { results };
});
