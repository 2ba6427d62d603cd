/**
 * Test support: the real yaml-language-server (the npm package VS Code's YAML extension, Neovim
 * and Helix run), started over stdio and spoken to with vscode-jsonrpc as an editor would:
 * initialize, open a document, wait for its diagnostics, ask for completions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import {
  createMessageConnection,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-jsonrpc/node.js";

const require = createRequire(import.meta.url);

export interface LspDiagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  message: string;
  severity?: number;
  source?: string;
}

export interface LspCompletionItem {
  label: string;
  documentation?: string | { kind: string; value: string };
  detail?: string;
}

export interface YamlLs {
  /** Open `text` as `uri` and resolve with the diagnostics the server publishes for it, once they settle. */
  diagnostics(uri: string, text: string): Promise<LspDiagnostic[]>;
  /** Completions at a 0-based line and character of an open document. */
  completion(uri: string, line: number, character: number): Promise<LspCompletionItem[]>;
  stop(): Promise<void>;
}

/** yaml-language-server's settings (the `yaml` section); `schemaStore` is off unless given. */
export interface YamlLsSettings {
  schemaStore?: { enable: boolean; url?: string };
}

export async function startYamlLs(opts: YamlLsSettings = {}): Promise<YamlLs> {
  const bin = require.resolve("yaml-language-server/bin/yaml-language-server");
  const child: ChildProcess = spawn(process.execPath, [bin, "--stdio"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const conn: MessageConnection = createMessageConnection(
    new StreamMessageReader(child.stdout as NodeJS.ReadableStream),
    new StreamMessageWriter(child.stdin as NodeJS.WritableStream),
  );
  const settings = {
    yaml: {
      validate: true,
      completion: true,
      hover: true,
      format: { enable: false },
      // No catalog from the network: only the file's own modeline decides its schema.
      schemaStore: opts.schemaStore ?? { enable: false },
      schemas: {},
    },
  };
  conn.onRequest("workspace/configuration", (p: { items: Array<{ section?: string }> }) =>
    p.items.map((i) => (i.section === "yaml" ? settings.yaml : i.section ? undefined : settings)),
  );
  conn.onRequest("client/registerCapability", () => null);
  conn.onRequest("window/workDoneProgress/create", () => null);
  const published = new Map<string, { diags: LspDiagnostic[]; at: number; count: number }>();
  conn.onNotification(
    "textDocument/publishDiagnostics",
    (p: { uri: string; diagnostics: LspDiagnostic[] }) => {
      const prev = published.get(p.uri);
      published.set(p.uri, { diags: p.diagnostics, at: Date.now(), count: (prev?.count ?? 0) + 1 });
    },
  );
  // With a schema store, the server fetches its catalog after the settings arrive, then says so.
  let storeReady: () => void = () => {};
  const storeInitialized = new Promise<void>((r) => {
    storeReady = r;
  });
  conn.onNotification("yaml/schema/store/initialized", () => storeReady());
  conn.listen();
  await conn.sendRequest("initialize", {
    processId: process.pid,
    rootUri: null,
    capabilities: {
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true } },
      textDocument: {
        publishDiagnostics: { relatedInformation: false },
        completion: {
          completionItem: { snippetSupport: false, documentationFormat: ["markdown", "plaintext"] },
        },
        hover: { contentFormat: ["markdown", "plaintext"] },
      },
    },
  });
  conn.sendNotification("initialized", {});
  // As VS Code's YAML extension does: then the server says when its schema store has loaded.
  conn.sendNotification("yaml/supportSchemaSelection", {});
  conn.sendNotification("workspace/didChangeConfiguration", { settings });
  if (opts.schemaStore?.enable) {
    await Promise.race([
      storeInitialized,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`the schema store did not load\n${stderr}`)), 20_000),
      ),
    ]);
  }
  const versions = new Map<string, number>();
  return {
    async diagnostics(uri, text) {
      const version = (versions.get(uri) ?? 0) + 1;
      versions.set(uri, version);
      const before = published.get(uri)?.count ?? 0;
      if (version === 1) {
        conn.sendNotification("textDocument/didOpen", {
          textDocument: { uri, languageId: "yaml", version, text },
        });
      } else {
        conn.sendNotification("textDocument/didChange", {
          textDocument: { uri, version },
          contentChanges: [{ text }],
        });
      }
      // The server validates after a change (and again once a schema has loaded): take the
      // diagnostics once nothing new came for a while.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const p = published.get(uri);
        if (p && p.count > before && Date.now() - p.at > 400) return p.diags;
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`yaml-language-server published no diagnostics for ${uri}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async completion(uri, line, character) {
      const r = (await conn.sendRequest("textDocument/completion", {
        textDocument: { uri },
        position: { line, character },
      })) as { items?: LspCompletionItem[] } | LspCompletionItem[] | null;
      return Array.isArray(r) ? r : (r?.items ?? []);
    },
    async stop() {
      try {
        await Promise.race([conn.sendRequest("shutdown"), new Promise((r) => setTimeout(r, 2000))]);
        conn.sendNotification("exit");
      } catch {
        // already gone
      }
      conn.dispose();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        const t = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
