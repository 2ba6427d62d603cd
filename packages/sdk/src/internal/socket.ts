import { createConnection, type NetConnectOpts, type Socket } from "node:net";

/** Open a TCP or unix-socket connection; rejects (and destroys the socket) on the first error. */
export function connectSocket(options: NetConnectOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(options);
    const onError = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.once("error", onError);
    sock.once("connect", () => {
      sock.off("error", onError);
      resolve(sock);
    });
  });
}
