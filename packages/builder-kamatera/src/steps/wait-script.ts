/**
 * disable_ssh: kiln cannot see the first-boot script run, so the script tells it it is done by
 * powering the server off (its last command: `poweroff`, or `Stop-Computer -Force` on Windows),
 * and this step waits, within script_timeout, until the API reports the server off.
 */
import { abortableSleep, type Step } from "@kiln/core";
import { errors } from "../errors.js";
import type { KamateraOptions } from "../schema.js";
import { serverInfo } from "../server-info.js";
import { API, SERVER } from "../state.js";
import { waits } from "../waits.js";

export function waitScriptStep(o: KamateraOptions): Step {
  return {
    name: "wait for the script",
    async run(ctx) {
      const client = ctx.state.require(API);
      const name = ctx.state.require(SERVER).name as string;
      const limit = errors.duration("script_timeout", o.script_timeout);
      const { pollMs } = waits(o);
      const deadline = Date.now() + limit;
      ctx.ui.say(
        `Waiting for the first-boot script to power ${name} off (script_timeout ${o.script_timeout})...`,
      );
      for (;;) {
        const info = await serverInfo(client, name, ctx.signal);
        if (info.power === "off") {
          ctx.ui.say(`Server ${name} is off: the script has finished.`);
          return;
        }
        if (Date.now() >= deadline)
          throw errors.error(
            "KILN_KAMATERA_SCRIPT_TIMEOUT",
            `server ${name} was still on after script_timeout ${o.script_timeout}: the first-boot script did not power it off`,
            "End the script with the command that shuts the server down — `poweroff` or `shutdown -h now` on Linux, `Stop-Computer -Force` in PowerShell — or raise script_timeout. (wait_for_power_off: false saves the disks as soon as the server is created, as the Packer plugin does; the script may not have finished by then.)",
          );
        await abortableSleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), ctx.signal);
      }
    },
  };
}
