/**
 * The state keys of the SDK's steps: what one step leaves for the next. A builder's own steps
 * read and write these too (and declare keys of their own the same way), so state travels on
 * one channel.
 */
import { stateKey } from "@kiln/core";
import type { ChrootTeardown } from "./chroot/teardown.js";
import type { TemporaryKeyPair } from "./communicator/keys.js";
import type { Checksum } from "./download/checksum.js";
import type { HttpServerHandle } from "./http/server.js";
import type { ClearedFile } from "./steps/clear-keys.js";

export { COMMUNICATOR } from "@kiln/core";

/** The generated SSH key pair (temporaryKeyStep), when the source gave no password, key or agent. */
export const TEMPORARY_KEY = stateKey<TemporaryKeyPair>("ssh-temporary-key");
/** The running HTTP server (httpServerStep). */
export const HTTP_SERVER = stateKey<HttpServerHandle>("http-server");
/**
 * Where the communicator connects, when the builder knows better than `ssh_host`: a forwarded
 * port, the address a cloud API or guest agent reported. Set by a builder step before connect.
 */
export const SSH_ADDRESS = stateKey<{ host: string; port: number }>("ssh-address");
/** What clearAuthorizedKeysStep removed. */
export const CLEARED_KEYS = stateKey<ClearedFile[]>("ssh-cleared-keys");
/** The downloaded (or local) ISO / disk image (downloadStep). */
export const SOURCE_FILE = stateKey<{ path: string; fromCache: boolean; url: string; checksum: Checksum }>(
  "source-file",
);
/** The CD image made from cd_files / cd_content (cdStep). */
export const CD_IMAGE = stateKey<{ path: string; files: string[] }>("cd-image");
/** The floppy image made from floppy_files / floppy_dirs / floppy_content (floppyStep). */
export const FLOPPY_IMAGE = stateKey<string>("floppy-image");
/** The staged output directory (outputDirectoryStep): files go into `staging`, renamed to `final` at the end. */
export const OUTPUT_DIR = stateKey<{ final: string; staging: string }>("output-directory");

/**
 * The block device holding the chroot's root filesystem: set by attachImageStep, or by a builder's
 * own step once a volume is attached and its node exists. `partitions` names partition nodes that
 * do not follow the /dev/xvdf1, /dev/loop3p1 pattern (loop devices by offset).
 */
export const CHROOT_DEVICE = stateKey<{ device: string; partitions?: Record<string, string> }>(
  "chroot-device",
);
/** The mounted root filesystem (mountDeviceStep): where it is, and the device mounted there. */
export const CHROOT_ROOT = stateKey<{ mountPath: string; device: string }>("chroot-root");
/** What the chroot steps must undo (chrootTeardownStep undoes it early; each step's cleanup its own part). */
export const CHROOT_TEARDOWN = stateKey<ChrootTeardown>("chroot-teardown");
