/**
 * Signature V4 of an OAPI request, as OUTSCALE's own clients send it (the Packer plugin through
 * aws-sdk-go's signer, osc-sdk-go v3): `AWS4-HMAC-SHA256`, header `X-Amz-Date`, credential scope
 * `<date>/<region>/osc/aws4_request`, the signed headers `content-type;host;x-amz-date`, and the
 * payload hash over the exact JSON body sent.
 *
 * The signing itself is the `aws4` package's (MIT, no dependencies, the signer of the `request`
 * ecosystem): it signs for an explicit service and region. It normalises every non-S3 path, so it
 * cannot sign the test suite's deliberately unnormalised paths (`/./`, `//`), and it escapes a path
 * a second time (AWS's rule for non-S3 services) where the suite escapes once. An OAPI path
 * (`/api/v1/<Action>`) needs neither; `sign.test.ts` runs every vector and names the only ones
 * it differs on. The API double verifies with another implementation (@smithy/signature-v4).
 */
import aws4 from "aws4";

/** The service name in the credential scope (profile.OscServiceApi in osc-sdk-go v3). */
export const OSC_SERVICE = "osc";

export interface SignInput {
  method: string;
  url: URL;
  /** Path and query as written, when they are not the URL's (the test vectors' raw paths). */
  path?: string;
  body: string;
  /** Headers to send and sign besides Host and X-Amz-Date (e.g. Content-Type). */
  headers?: Record<string, string>;
  accessKey: string;
  secretKey: string;
  region: string;
  service?: string;
  /** The signing time (default: now). */
  now?: Date;
}

/** `20150830T123600Z` */
export const amzDate = (d: Date): string => d.toISOString().replace(/[:-]|\.\d{3}/g, "");

/** aws4's signer for the request, its time taken from the X-Amz-Date header given. */
function signerOf(
  i: SignInput & { sessionToken?: string },
  headers: Record<string, string>,
): aws4.RequestSigner {
  const signer = new aws4.RequestSigner(
    {
      method: i.method,
      host: i.url.host,
      path: i.path ?? `${i.url.pathname}${i.url.search}`,
      headers,
      body: i.body,
      service: i.service ?? OSC_SERVICE,
      region: i.region,
      // Sign exactly the headers given (aws4 would add Content-Type and Content-Length).
      doNotModifyHeaders: true,
    },
    {
      accessKeyId: i.accessKey,
      secretAccessKey: i.secretKey,
      ...(i.sessionToken ? { sessionToken: i.sessionToken } : {}),
    },
  );
  // With doNotModifyHeaders aws4 takes the time from a Date header; use X-Amz-Date as sent.
  const date = Object.entries(headers).find(([k]) => k.toLowerCase() === "x-amz-date")?.[1];
  if (date) (signer as unknown as { datetime: string }).datetime = date;
  return signer;
}

/** The headers to send: the given ones plus Host, X-Amz-Date and Authorization. */
export function signRequest(i: SignInput): Record<string, string> {
  const headers: Record<string, string> = {
    ...(i.headers ?? {}),
    Host: i.url.host,
    "X-Amz-Date": amzDate(i.now ?? new Date()),
  };
  const signer = signerOf(i, headers);
  return { ...headers, Authorization: signer.authHeader() };
}

/** The signer's intermediate results, for the vector tests. */
export function signingSteps(i: SignInput & { sessionToken?: string }): {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  authorization: string;
} {
  const signer = signerOf(i, { ...(i.headers ?? {}) });
  return {
    canonicalRequest: signer.canonicalString(),
    stringToSign: signer.stringToSign(),
    signature: signer.signature(),
    authorization: signer.authHeader(),
  };
}
