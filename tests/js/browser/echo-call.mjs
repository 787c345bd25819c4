// An outgoing call to the echo number: audio both ways, sendDigits, hang-up from either side.
// Args: {signaling, control, token, to, toneHz, digits, hangup: "local"|"remote"}.
import { scenario, sdkPage, deviceOptions, waitEvent, events, listenToCall, heard, control, sleep } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { toneHz: args.toneHz, log });
  await page.evaluate(async ({ token, options, to }) => {
    const device = new Twilio.Device(token, options);
    window.__device = device;
    window.__watchDevice(device);
    const call = await device.connect({ params: { To: to } });
    window.__call = call;
    window.__watchCall(call);
  }, { token: args.token, options: deviceOptions(args), to: args.to });
  await waitEvent(page, 'call.accept');
  const callSid = await page.evaluate(() => window.__call.parameters.CallSid);
  await listenToCall(page);
  await sleep(2500);
  await page.evaluate((d) => window.__call.sendDigits(d), args.digits);
  await sleep(2000);
  const heardBefore = await heard(page);
  const codec = await page.evaluate(async () => {
    const stats = await window.__call._mediaHandler.version.pc.getStats();
    let mime = null;
    stats.forEach((s) => { if (s.type === 'codec' && s.mimeType && s.mimeType.startsWith('audio/') && !s.mimeType.includes('telephone')) mime = mime || s.mimeType; });
    return mime;
  }).catch(() => null);
  if (args.hangup === 'remote') {
    await control(args, 'POST', `/v1/calls/${callSid}/hangup`, {});
  } else {
    await page.evaluate(() => window.__call.disconnect());
  }
  await waitEvent(page, 'call.disconnect');
  const status = await page.evaluate(() => window.__call.status());
  await page.evaluate(() => window.__device.destroy());
  return { callSid, heard: heardBefore, codec, status, events: await events(page) };
});
