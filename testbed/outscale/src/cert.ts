/**
 * Throwaway certificates made with the system's openssl (as testbed/pve's cert.ts): a CA, the
 * server certificate it signs for 127.0.0.1 (clients trust the CA through kiln's ca_file), and
 * client certificates for the x509 API access rules.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Pem {
  key: string;
  cert: string;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.error) throw new Error(`openssl not available: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A CA. */
export function makeCa(commonName: string): Pem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-osc-ca-"));
  try {
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "7",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ]);
    return {
      key: fs.readFileSync(path.join(dir, "ca.key"), "utf8"),
      cert: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A leaf certificate signed by `ca`: a server one (SAN 127.0.0.1, localhost) or a client one. */
export function makeLeaf(ca: Pem, commonName: string, usage: "server" | "client"): Pem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-osc-leaf-"));
  try {
    fs.writeFileSync(path.join(dir, "ca.key"), ca.key, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
    fs.writeFileSync(
      path.join(dir, "ext.cnf"),
      usage === "server"
        ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        : "extendedKeyUsage=clientAuth\n",
    );
    openssl(dir, [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      `/CN=${commonName}`,
      "-keyout",
      "leaf.key",
      "-out",
      "leaf.csr",
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "7",
      "-extfile",
      "ext.cnf",
      "-out",
      "leaf.crt",
    ]);
    return {
      key: fs.readFileSync(path.join(dir, "leaf.key"), "utf8"),
      cert: fs.readFileSync(path.join(dir, "leaf.crt"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
