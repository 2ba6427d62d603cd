/** A tiny QMP (QEMU Machine Protocol) client, enough for tests: commands, events, typing keys. */
import net from "node:net";

export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Qmp {
  readonly events: QmpEvent[] = [];
  private buf = "";
  private readonly pending: Pending[] = [];
  private greeted: Promise<void>;
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    let onGreeting: () => void = () => {};
    this.greeted = new Promise((r) => {
      onGreeting = r;
    });
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>, onGreeting);
        i = this.buf.indexOf("\n");
      }
    });
    const fail = (e: Error) => {
      this.closed = true;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new Error("QMP connection closed")));
  }

  /** Connects to a QMP unix socket (retrying while QEMU creates it) and negotiates capabilities. */
  static async connect(socketPath: string, timeoutMs = 30_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(socketPath);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        const qmp = new Qmp(sock);
        await qmp.greeted;
        await qmp.execute("qmp_capabilities");
        return qmp;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
  }

  private onMessage(msg: Record<string, unknown>, onGreeting: () => void): void {
    if ("QMP" in msg) {
      onGreeting();
    } else if ("event" in msg) {
      this.events.push(msg as unknown as QmpEvent);
    } else {
      const p = this.pending.shift();
      if (!p) return;
      if ("error" in msg) {
        const err = msg.error as { class?: string; desc?: string };
        p.reject(new Error(`QMP error ${err.class}: ${err.desc}`));
      } else {
        p.resolve(msg.return);
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error("QMP connection closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.sock.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  /** Presses a key combination, e.g. ["shift", "semicolon"]. */
  sendKey(qcodes: string[], holdTimeMs = 40): Promise<unknown> {
    return this.execute("send-key", {
      keys: qcodes.map((data) => ({ type: "qcode", data })),
      "hold-time": holdTimeMs,
    });
  }

  /** Types text on the PS/2 keyboard (US layout); "\n" presses Enter. */
  async typeText(text: string, delayMs = 60): Promise<void> {
    for (const ch of text) {
      await this.sendKey(qcodesFor(ch));
      await sleep(delayMs);
    }
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

const SHIFTED: Record<string, string> = {
  "!": "1",
  "@": "2",
  "#": "3",
  $: "4",
  "%": "5",
  "^": "6",
  "&": "7",
  "*": "8",
  "(": "9",
  ")": "0",
  _: "minus",
  "+": "equal",
  "{": "bracket_left",
  "}": "bracket_right",
  ":": "semicolon",
  '"': "apostrophe",
  "<": "comma",
  ">": "dot",
  "?": "slash",
  "|": "backslash",
  "~": "grave_accent",
};
const PLAIN: Record<string, string> = {
  " ": "spc",
  "\n": "ret",
  "\t": "tab",
  "-": "minus",
  "=": "equal",
  "[": "bracket_left",
  "]": "bracket_right",
  ";": "semicolon",
  "'": "apostrophe",
  ",": "comma",
  ".": "dot",
  "/": "slash",
  "\\": "backslash",
  "`": "grave_accent",
};

/** QMP qcodes for one character on a US keyboard. */
export function qcodesFor(ch: string): string[] {
  if (/^[a-z0-9]$/.test(ch)) return [ch];
  if (/^[A-Z]$/.test(ch)) return ["shift", ch.toLowerCase()];
  const plain = PLAIN[ch];
  if (plain) return [plain];
  const shifted = SHIFTED[ch];
  if (shifted) return ["shift", shifted];
  throw new Error(`cannot type ${JSON.stringify(ch)}`);
}
