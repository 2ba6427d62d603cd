/**
 * Throwaway certificates made with the system's openssl (EC P-256, 7 days), for HTTPS servers on
 * the loopback interface: a self-signed one for 127.0.0.1, or a CA and the server and client
 * certificates it signs (clients trust the CA, e.g. through kiln's ca_file).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Pem {
  key: string;
  cert: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.error) throw new Error(`openssl not available: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** Runs `make` in a fresh temporary folder, reads back the key and certificate it wrote there. */
function inTempDir(prefix: string, keyFile: string, certFile: string, make: (dir: string) => void): Pem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    make(dir);
    return {
      key: fs.readFileSync(path.join(dir, keyFile), "utf8"),
      cert: fs.readFileSync(path.join(dir, certFile), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `openssl req` for a self-signed certificate with these extensions. */
const selfSignedReq = (commonName: string, extensions: string[], keyFile: string, certFile: string) => [
  "req",
  "-x509",
  ...EC_KEY,
  "-days",
  "7",
  "-subj",
  `/CN=${commonName}`,
  ...extensions.flatMap((e) => ["-addext", e]),
  "-keyout",
  keyFile,
  "-out",
  certFile,
];

/** A self-signed certificate for 127.0.0.1 and localhost. */
export function makeSelfSigned(commonName: string): Pem {
  const extensions = ["subjectAltName=IP:127.0.0.1,DNS:localhost", "basicConstraints=critical,CA:TRUE"];
  return inTempDir("kiln-cert-", "key.pem", "cert.pem", (dir) =>
    openssl(dir, selfSignedReq(commonName, extensions, "key.pem", "cert.pem")),
  );
}

/** A CA. */
export function makeCa(commonName: string): Pem {
  const extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];
  return inTempDir("kiln-ca-", "ca.key", "ca.crt", (dir) =>
    openssl(dir, selfSignedReq(commonName, extensions, "ca.key", "ca.crt")),
  );
}

/** A leaf certificate signed by `ca`: a server one (SAN 127.0.0.1, localhost) or a client one. */
export function makeLeaf(ca: Pem, commonName: string, usage: "server" | "client"): Pem {
  return inTempDir("kiln-leaf-", "leaf.key", "leaf.crt", (dir) => {
    fs.writeFileSync(path.join(dir, "ca.key"), ca.key, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "ca.crt"), ca.cert);
    fs.writeFileSync(
      path.join(dir, "ext.cnf"),
      usage === "server"
        ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        : "extendedKeyUsage=clientAuth\n",
    );
    openssl(dir, ["req", ...EC_KEY, "-subj", `/CN=${commonName}`, "-keyout", "leaf.key", "-out", "leaf.csr"]);
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
  });
}
