/** Kept so modules that import "./load.js" (the engine) need no change: the loader is in load/. */
export * from "./load/index.js";
