/** The API client of a run: credentials, TLS trust (proxmox_ca_file), log and secrets wired to the run. */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { messageOf, type RunContext } from "@kiln/core";
import { PveClient } from "./client.js";
import { credentials } from "./credentials.js";
import { errors } from "./errors.js";
import type { CommonOptions } from "./schema.js";

export async function openClient(o: CommonOptions, ctx: RunContext): Promise<PveClient> {
  const c = credentials(o);
  let ca: string | undefined;
  if (o.proxmox_ca_file) {
    const file = resolve(ctx.baseDir, o.proxmox_ca_file);
    try {
      ca = await readFile(file, "utf8");
    } catch (e) {
      throw errors.config(
        `cannot read proxmox_ca_file ${file}: ${messageOf(e)}`,
        "Copy /etc/pve/pve-root-ca.pem from the Proxmox host and point proxmox_ca_file at it.",
      );
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----"))
      throw errors.config(`proxmox_ca_file ${file} holds no PEM certificate`);
    // Giving the agent a CA list replaces what Node added from NODE_EXTRA_CA_CERTS: keep it.
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    if (extra) ca += `\n${await readFile(extra, "utf8").catch(() => "")}`;
  }
  if (c.url.startsWith("http://"))
    ctx.ui.error(
      `proxmox_url ${c.url} is plain HTTP: the ${c.token ? "API token" : "password"} crosses the network unencrypted. Use https:// (PVE listens on 8006).`,
    );
  return new PveClient({
    url: c.url,
    username: c.username,
    ...(c.password ? { password: c.password } : {}),
    ...(c.token ? { token: c.token } : {}),
    ...(o.insecure_skip_tls_verify ? { insecure: true } : {}),
    ...(ca ? { ca } : {}),
    log: (line) => ctx.ui.message(line),
    onSecret: (value) => ctx.secret(value),
  });
}
