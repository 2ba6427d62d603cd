/** The authentication methods to offer, in order: private key (file or in memory), agent, password and keyboard-interactive. */
import { readFile } from "node:fs/promises";
import type { AnyAuthMethod } from "ssh2";
import ssh2 from "ssh2";
import { CommunicatorError } from "../errors.js";

export interface AuthPlan {
  methods: AnyAuthMethod[];
  /** Human names of the methods, for error messages (never the secrets). */
  names: string[];
}

async function loadKey(
  file: string | undefined,
  inline: string | Buffer | undefined,
  option: string,
): Promise<Buffer | undefined> {
  let data: Buffer;
  if (file) {
    try {
      data = await readFile(file);
    } catch (err) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `[ssh] cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
        {
          cause: err,
        },
      );
    }
  } else if (inline !== undefined) {
    data = Buffer.isBuffer(inline) ? inline : Buffer.from(inline);
  } else {
    return undefined;
  }
  const parsed = ssh2.utils.parseKey(data);
  const where = file ? `${option} ${file}` : option;
  if (parsed instanceof Error) {
    // ssh2's parse errors describe the format, never the key material
    throw new CommunicatorError(
      "KILN_SSH_KEY",
      `[ssh] ${where} is not a usable private key: ${parsed.message}`,
      {
        hint: "use an unencrypted OpenSSH or PEM private key",
      },
    );
  }
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first?.isPrivateKey()) {
    throw new CommunicatorError("KILN_SSH_KEY", `[ssh] ${where} holds a public key, not a private key`);
  }
  return data;
}

export async function authPlan(
  username: string,
  password: string | undefined,
  keyFile: string | undefined,
  inlineKey: string | Buffer | undefined,
  agent: boolean | undefined,
  prefix: string,
): Promise<AuthPlan> {
  const methods: AnyAuthMethod[] = [];
  const names: string[] = [];
  const key = await loadKey(keyFile, inlineKey, `${prefix}private_key_file`);
  if (key) {
    methods.push({ type: "publickey", username, key });
    names.push(keyFile ? `publickey (${keyFile})` : "publickey (in-memory key)");
  }
  if (agent) {
    const sock = process.env.SSH_AUTH_SOCK;
    if (!sock) {
      throw new CommunicatorError(
        "KILN_SSH_CONFIG",
        `[ssh] ${prefix}agent_auth is set but SSH_AUTH_SOCK is not: start an ssh-agent first`,
      );
    }
    methods.push({ type: "agent", username, agent: sock });
    names.push("agent (SSH_AUTH_SOCK)");
  }
  if (password !== undefined) {
    methods.push({ type: "password", username, password });
    names.push("password");
    methods.push({
      type: "keyboard-interactive",
      username,
      prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
    });
    names.push("keyboard-interactive");
  }
  if (methods.length === 0) {
    throw new CommunicatorError(
      "KILN_SSH_CONFIG",
      `[ssh] no authentication method for ${prefix}username "${username}": set ${prefix}password, ${prefix}private_key_file or ${prefix}agent_auth`,
    );
  }
  return { methods, names };
}
