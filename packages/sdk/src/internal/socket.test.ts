import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSocket } from "./socket.js";
import { type Blackhole, startBlackhole } from "./test-blackhole.js";

let hole: Blackhole;
beforeAll(async () => {
  hole = await startBlackhole();
});
afterAll(async () => {
  await hole?.close();
});

describe("connectSocket", () => {
  it("the test's listener really hangs a connect (no timeout given)", async () => {
    const ac = new AbortController();
    const pending = connectSocket({ host: hole.host, port: hole.port }, { signal: ac.signal });
    const outcome = await Promise.race([
      pending.then(
        () => "connected",
        () => "failed",
      ),
      new Promise((r) => setTimeout(() => r("pending"), 1500)),
    ]);
    ac.abort();
    await pending.catch(() => {});
    expect(outcome).toBe("pending");
  });

  it("gives up after timeoutMs with ETIMEDOUT and destroys the socket", async () => {
    const t0 = Date.now();
    const err = (await connectSocket({ host: hole.host, port: hole.port }, { timeoutMs: 300 }).catch(
      (e: unknown) => e,
    )) as NodeJS.ErrnoException;
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe("ETIMEDOUT");
    expect(err.message).toContain(`${hole.host}:${hole.port}`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("stops at once when aborted during the connect, or when already aborted", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop now")), 100);
    const t0 = Date.now();
    await expect(
      connectSocket({ host: hole.host, port: hole.port }, { timeoutMs: 60_000, signal: ac.signal }),
    ).rejects.toThrow("stop now");
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(connectSocket({ host: hole.host, port: hole.port }, { signal: ac.signal })).rejects.toThrow(
      "stop now",
    );
  });

  it("connects as before, and a timer left does not fire after the connect", async () => {
    const held: Socket[] = [];
    const server = createServer((s) => {
      held.push(s);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as { port: number }).port;
      const ac = new AbortController();
      const sock = await connectSocket({ host: "127.0.0.1", port }, { timeoutMs: 50, signal: ac.signal });
      await new Promise((r) => setTimeout(r, 100));
      ac.abort();
      expect(sock.destroyed).toBe(false);
      sock.destroy();
      const err = (await connectSocket({ host: "127.0.0.1", port: 1 }).catch(
        (e: unknown) => e,
      )) as NodeJS.ErrnoException;
      expect(err.code).toBe("ECONNREFUSED");
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
