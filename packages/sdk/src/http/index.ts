export {
  formatHttpRequestLog,
  type HttpRequestLog,
  HttpServerError,
  type HttpServerErrorCode,
  type HttpServerHandle,
  type HttpServerOptions,
  startHttpServer,
} from "./server.js";
