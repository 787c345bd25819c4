// A short-TTL token fires tokenWillExpire; updateToken keeps the registration past the first
// token's expiry. Args: {signaling, token (short TTL), freshToken, tokenRefreshMs, holdUntilMs}.
import { scenario, sdkPage, deviceOptions, waitEvent, events, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { log });
  const started = Date.now();
  await page.evaluate(async ({ token, fresh, options }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    device.on('tokenWillExpire', () => device.updateToken(fresh));
    await device.register();
  }, { token: args.token, fresh: args.freshToken, options: deviceOptions(args, { tokenRefreshMs: args.tokenRefreshMs }) });
  await waitEvent(page, 'device.tokenWillExpire', 20000);
  const willExpireAtMs = Date.now();
  const willExpireAfterMs = willExpireAtMs - started;
  await sleep(Math.max(0, args.holdUntilMs - Date.now()));
  const state = await page.evaluate(() => window.__device.state);
  const all = (await events(page)).map((e) => e.what);
  await page.evaluate(() => window.__device.destroy());
  return { willExpireAtMs, willExpireAfterMs, state, events: all };
});
