/** ssh_proxy_*: the TCP connection to the machine (or its bastion) through a SOCKS5 proxy. */
import type { Socket } from "node:net";
import { SocksClient } from "socks";
import { CommunicatorError } from "../errors.js";

export interface ProxySettings {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** A socket to host:port through the proxy, or a transient failure to retry. */
export async function proxySocket(
  proxy: ProxySettings,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Socket> {
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: {
        host: proxy.host,
        port: proxy.port,
        type: 5,
        ...(proxy.username ? { userId: proxy.username } : {}),
        ...(proxy.password ? { password: proxy.password } : {}),
      },
      command: "connect",
      destination: { host, port },
      timeout: Math.max(1000, timeoutMs),
    });
    return socket;
  } catch (e) {
    throw new CommunicatorError(
      "KILN_SSH_PROXY",
      `[ssh] through the SOCKS5 proxy ${proxy.host}:${proxy.port} to ${host}:${port}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
