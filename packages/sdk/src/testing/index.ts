export * from "./build.js";
export * from "./chroot.js";
export * from "./chroot-run.js";
export * from "./null-host.js";
export * from "./options.js";
export * from "./provision-step.js";
export * from "./sshd.js";
