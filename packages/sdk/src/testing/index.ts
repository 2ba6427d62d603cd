export * from "./build.js";
export * from "./chroot.js";
export * from "./options.js";
export * from "./sshd.js";
