/**
 * The key pair the VM is launched with: ssh_keypair_name as it is, or kiln's temporary key
 * (made locally by the SDK's key step: the private key never crosses the API) imported as
 * `CreateKeypair {KeypairName, PublicKey: base64(openssh line)}`; deleted in cleanup.
 */
import { randomUUID } from "node:crypto";
import type { Step } from "@kiln/core";
import { TEMPORARY_KEY } from "@kiln/sdk";
import { isNotFound } from "../client.js";
import type { BsuOptions } from "../schema.js";
import { API, KEYPAIR } from "../state.js";

export function keyPairStep(o: BsuOptions): Step {
  let creating: Promise<unknown> | undefined;
  return {
    name: "key pair",
    async run(ctx) {
      if (o.ssh_keypair_name) {
        ctx.state.put(KEYPAIR, { name: o.ssh_keypair_name, created: false });
        return;
      }
      const key = ctx.state.get(TEMPORARY_KEY);
      if (!key) return; // a password or agent: no key pair
      const { client } = ctx.state.require(API);
      const name = o.temporary_key_pair_name ?? `kiln_${randomUUID()}`;
      // Recorded first: a request that times out may still have made it.
      ctx.state.put(KEYPAIR, { name, created: true });
      // Not abortable: cleanup waits for it, then deletes what it made.
      creating = client.call("CreateKeypair", {
        KeypairName: name,
        PublicKey: Buffer.from(key.publicKey.trim()).toString("base64"),
      });
      await creating;
      ctx.ui.say(`Imported the temporary key pair ${name}.`);
    },
    async cleanup(ctx) {
      await creating?.catch(() => {});
      const kp = ctx.state.get(KEYPAIR);
      const api = ctx.state.get(API);
      if (!kp?.created || !api) return;
      await api.client.call("DeleteKeypair", { KeypairName: kp.name }).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      ctx.state.delete(KEYPAIR);
      ctx.ui.say(`Deleted the temporary key pair ${kp.name}.`);
    },
  };
}
