import { createGuestChannel, keepGuestConnected } from "../agent/proxy.ts";
import { connectUnix } from "../agent/transport/unix.ts";
import type { Channel } from "../agent/wire/channel.ts";
import { TimeoutError } from "../host/errors.ts";

/** The monitor's one channel to the guest agent, over QEMU's virtio-serial chardev socket. */
export interface GuestLink {
  channel: Channel;
  stop(): Promise<void>;
}

/**
 * Connect (and keep reconnecting) to the agent socket, resolve once the guest
 * agent completed the version handshake. Until the guest opens its port QEMU
 * holds our HELLO, so this simply waits for the guest to come up.
 */
export async function connectGuest(agentSocket: string, timeoutMs: number, signal?: AbortSignal): Promise<GuestLink> {
  const channel = createGuestChannel();
  const keeper = keepGuestConnected(channel, () => connectUnix(agentSocket, { timeoutMs: 5000 }));
  const link: GuestLink = {
    channel,
    async stop() {
      keeper.stop();
      await channel.close();
    },
  };
  try {
    await channel.ready(signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]) : AbortSignal.timeout(timeoutMs));
  } catch (err) {
    await link.stop();
    if (err instanceof Error && err.name === "TimeoutError") {
      throw new TimeoutError(`no agent handshake on ${agentSocket} within ${timeoutMs} ms`, { cause: err });
    }
    throw err;
  }
  return link;
}
