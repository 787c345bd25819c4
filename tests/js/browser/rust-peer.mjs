// A call between the official SDK (this page) and the Rust Device, through offhook-lab.
// Args: {signaling, control, token, mode: "call"|"answer", to, toneHz, talkMs}.
// call: the page calls `to` (e.g. client:rusty), listens for talkMs, reports what it heard,
//       then hangs up. answer: the page registers, accepts the incoming call, listens for
//       talkMs, reports what it heard, says so in a call message (recorded by the lab) and
//       waits for the far end to hang up.
import { scenario, sdkPage, deviceOptions, waitEvent, events, listenToCall, heard, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { toneHz: args.toneHz, log });
  const result = {};
  if (args.mode === 'call') {
    await page.evaluate(async ({ token, options, to }) => {
      const device = new Twilio.Device(token, options);
      window.__device = device;
      window.__watchDevice(device);
      const call = await device.connect({ params: { To: to } });
      window.__call = call;
      window.__watchCall(call);
    }, { token: args.token, options: deviceOptions(args), to: args.to });
    await waitEvent(page, 'call.accept', 20000);
    await listenToCall(page);
    await sleep(args.talkMs);
    result.heard = await heard(page);
    await page.evaluate(() => window.__call.disconnect());
    await waitEvent(page, 'call.disconnect');
  } else {
    await page.evaluate(async ({ token, options }) => {
      const device = new Twilio.Device(token, options);
      window.__device = device;
      window.__watchDevice(device);
      await device.register();
    }, { token: args.token, options: deviceOptions(args) });
    result.incoming = await waitEvent(page, 'device.incoming', 20000);
    await page.evaluate(() => { window.__call = window.__incoming; window.__call.accept(); });
    await waitEvent(page, 'call.accept');
    await listenToCall(page);
    await sleep(args.talkMs);
    result.heard = await heard(page);
    // Tells the test (through the lab, which records the leg's messages) it may hang up now.
    await page.evaluate(() => window.__call.sendMessage({ content: { listened: true }, contentType: 'application/json', messageType: 'user-defined-message' }));
    await waitEvent(page, 'call.disconnect', 20000);
  }
  result.codec = await page.evaluate(() => window.__call.codec).catch(() => null);
  await page.evaluate(() => window.__device.destroy());
  result.events = await events(page);
  return result;
});
