/**
 * The builder conformance suite from @kiln/sdk (the one third-party builders run), with a real
 * QEMU guest: the appliance's disk image as a cloud image, communicator none, and a cidata seed
 * whose runcmd powers the machine off (so the build ends the way an unattended install does).
 */
import { testBuilder } from "@kiln/sdk/conformance";
import { ensureAppliance } from "../../../testbed/appliance/src/appliance.js";
import plugin from "./index.js";
import { qemuSkip } from "./test-support.js";

const { skip } = qemuSkip();
const appliance = skip ? undefined : await ensureAppliance();

testBuilder({
  plugin,
  type: "qemu",
  run: !skip,
  timeoutMs: 240_000,
  example: {
    iso_url: appliance?.disk ?? "/nonexistent/disk.qcow2",
    iso_checksum: "none",
    disk_image: true,
    use_backing_file: true,
    accelerator: "tcg",
    memory: 256,
    communicator: "none",
    cd_label: "cidata",
    cd_content: {
      "meta-data": "instance-id: conformance\n",
      "user-data": "#cloud-config\nruncmd:\n  - poweroff\n",
    },
    shutdown_timeout: "3m",
  },
  invalid: [
    { iso_url: "x.iso", accelerator: "warp" },
    { iso_url: "x.iso", memory: "lots" },
    { iso_url: "x.iso", disk_size: "huge" },
    { iso_url: "x.iso", net_device: "" },
  ],
});
