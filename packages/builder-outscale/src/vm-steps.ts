/**
 * What the VM builders (outscale-bsu, -bsuvolume, -bsusurrogate) run alike, once: from the source
 * OMI to the provisioned, stopped VM — network, temporary key imported as a key pair, public IP,
 * security group, the VM launched as `launch` says, SSH (Packer's older `ssh_wait_timeout` as
 * the fallback of `ssh_timeout`), the provisioners, the keys cleared, the VM stopped.
 */
import type { Step } from "@kiln/core";
import { clearAuthorizedKeysStep, connectStep, temporaryKeyStep } from "@kiln/sdk";
import { withSshTimeout } from "./prepare.js";
import type { BsuOptions, RunOptions } from "./schema.js";
import { keyPairStep } from "./steps/key-pair.js";
import { networkStep } from "./steps/network.js";
import { publicIpStep } from "./steps/public-ip.js";
import { type Launch, runVmStep } from "./steps/run-vm.js";
import { securityGroupStep } from "./steps/security-group.js";
import { sourceOmiStep } from "./steps/source-omi.js";
import { stopVmStep } from "./steps/stop-vm.js";

export function provisionedVmSteps(o: RunOptions, provision: Step, launch: Launch): Step[] {
  return [
    sourceOmiStep(o),
    networkStep(o),
    temporaryKeyStep(o),
    keyPairStep(o),
    publicIpStep(o),
    securityGroupStep(o),
    runVmStep(o, launch),
    connectStep(withSshTimeout(o)),
    provision,
    clearAuthorizedKeysStep(o),
    stopVmStep(o),
  ];
}

/** The launch of outscale-bsu and -bsusurrogate: launch_block_device_mappings, run_volume_tags. */
export function launchMappings(
  o: Pick<BsuOptions, "launch_block_device_mappings" | "run_volume_tags">,
): Launch {
  return {
    mappings: o.launch_block_device_mappings ?? [],
    ...(o.run_volume_tags ? { volumeTags: o.run_volume_tags } : {}),
  };
}
