/** A throwaway self-signed certificate for 127.0.0.1, made with the system's openssl. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface SelfSigned {
  key: string;
  cert: string;
}

export function makeSelfSignedCert(commonName = "pve-double.kiln.test"): SelfSigned {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-cert-"));
  try {
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    const r = spawnSync(
      "openssl",
      [
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
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      { encoding: "utf8" },
    );
    if (r.error) throw new Error(`openssl not available: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    return { key: fs.readFileSync(keyFile, "utf8"), cert: fs.readFileSync(certFile, "utf8") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
