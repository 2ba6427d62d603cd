/** The PVE double's task routes: a UPID's status. */
import { ApiError, permError } from "../api-error.js";
import { parseUpid, type Tasks } from "../tasks.js";
import { hasPriv } from "./access.js";
import type { Handlers } from "./common.js";

export function taskRoutes(node: string, tasks: Tasks): Handlers {
  return {
    "GET /nodes/{node}/tasks/{upid}/status": (p, auth) => {
      const upid = String(p.upid);
      const parsed = parseUpid(upid);
      if (!parsed) throw new ApiError(500, `unable to parse worker upid '${upid}'`);
      const t = tasks.all.get(upid);
      if (!t) throw new ApiError(500, `no such task`);
      if (t.user !== auth.user && !hasPriv(auth.privileges, `/nodes/${node}`, "Sys.Audit")) throw permError();
      const { log: _l, done: _d, endtime: _e, ...rest } = t;
      return rest;
    },
  };
}
