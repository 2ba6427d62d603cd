export * from "./build.js";
export * from "./sshd.js";
