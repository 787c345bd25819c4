// register → registered; unregister → unregistered. Args: {signaling, token}.
import { scenario, sdkPage, deviceOptions, events } from './lib.mjs';

scenario(async (args, b, log) => {
  const { page } = await sdkPage(b, { log });
  const result = await page.evaluate(async ({ token, options }) => {
    const device = new Twilio.Device(token, options);
    window.__watchDevice(device);
    await device.register();
    const registered = { state: device.state, identity: device.identity, edge: device.edge, home: device.home };
    await device.unregister();
    const unregistered = { state: device.state };
    device.destroy();
    return { registered, unregistered };
  }, { token: args.token, options: deviceOptions(args) });
  return { ...result, events: (await events(page)).map((e) => e.what) };
});
