/** `GET /service/queue?id=<id> [<id>…]`: the commands' status and log (`log=1`: only the log). */
import { ApiError } from "../wire.js";
import type { Handlers, RouteContext } from "./common.js";

export function queueRoutes(ctx: RouteContext): Handlers {
  return {
    "queue.detail": (f) => {
      const ids = String(f.id).split(" ");
      const items = ids.map((id) => {
        const c = ctx.account.queue.all.get(Number(id));
        if (!c) throw new ApiError(500, `Command not found (id=${id})`);
        return c;
      });
      if (f.log === "1") return items.map((c) => ({ log: c.log || null }));
      return items.map((c) => ({
        id: String(c.id),
        status: c.status,
        server: c.server,
        description: c.description,
        added: c.added,
        executed: c.executed,
        completed: c.completed,
        log: c.log || null,
      }));
    },
  };
}
