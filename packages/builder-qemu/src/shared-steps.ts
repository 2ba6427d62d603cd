/** SDK steps the qemu builder configures the same way for a build and for a checkpoint's restore. */
import type { Step } from "@kiln/core";
import { downloadStep, httpServerStep } from "@kiln/sdk";
import { httpGuestIp } from "./defaults.js";
import type { QemuOptions } from "./schema.js";

/** The ISO (or the disk image, with disk_image), downloaded or found in the cache. */
export const sourceStep = (o: QemuOptions): Step =>
  downloadStep(o, {
    what: o.disk_image ? "the disk image" : "the ISO",
    // A disk image keeps the URL's extension (.qcow2, .img) unless iso_target_extension says otherwise.
    ...(o.disk_image && o.iso_target_extension === "iso"
      ? { extensionFromUrl: true }
      : { extension: o.iso_target_extension }),
  });

/** On user networking the guest reaches the host at 10.0.2.2; on a bridge, at the host's own address. */
export const httpStep = (o: QemuOptions): Step => httpServerStep(o, { guestIp: (h) => httpGuestIp(o, h.ip) });
