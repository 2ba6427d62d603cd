/**
 * The step that serves `http_directory` / `http_content` to the guest during a build, shared by
 * builders. It publishes `${{ http.ip }}`, `${{ http.port }}` (and Packer's PackerHTTPIP,
 * PackerHTTPPort, PackerHTTPAddr) and renders `http_content` once the port is known, so content
 * may refer to the server's own address.
 */
import { resolve } from "node:path";
import type { RunContext, Step } from "@kiln/core";
import {
  formatHttpRequestLog,
  type HttpRequestLog,
  type HttpServerHandle,
  startHttpServer,
} from "../http/server.js";
import type { HttpOptions } from "../schemas.js";
import { HTTP_SERVER } from "../state.js";

export type { HttpOptions };

export interface HttpServerStepOptions {
  /** The address the guest reaches the server at. Default: the server's own `ip`. */
  guestIp?: (server: HttpServerHandle, ctx: RunContext) => string;
}

export function httpServerStep(o: HttpOptions, how: HttpServerStepOptions = {}): Step {
  let server: HttpServerHandle | undefined;
  return {
    name: "http server",
    async run(ctx) {
      if (!o.http_directory && !o.http_content) return;
      server = await startHttpServer({
        ...(o.http_directory ? { directory: resolve(ctx.baseDir, o.http_directory) } : {}),
        bindAddress: o.http_bind_address ?? "0.0.0.0",
        portMin: o.http_port_min,
        portMax: o.http_port_max,
        onRequest: (e: HttpRequestLog) => ctx.ui.message(`HTTP ${formatHttpRequestLog(e)}`),
      });
      const ip = how.guestIp?.(server, ctx) ?? server.ip;
      ctx.buildVars.PackerHTTPIP = ip;
      ctx.buildVars.PackerHTTPPort = server.port;
      ctx.buildVars.PackerHTTPAddr = `${ip}:${server.port}`;
      // http_content may use ${{ http.ip }} / ${{ http.port }}: render it now that they are known.
      if (o.http_content) server.setContent(ctx.render(o.http_content));
      ctx.state.put(HTTP_SERVER, server);
      ctx.ui.say(
        `Serving HTTP on ${server.bindAddress}:${server.port}; the guest reaches it at http://${ip}:${server.port}/`,
      );
    },
    async cleanup(ctx) {
      ctx.state.delete(HTTP_SERVER);
      await server?.close();
      server = undefined;
    },
  };
}
