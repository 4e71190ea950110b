// The caller's credential towards the traffic-manager (a Kubernetes token it verifies with TokenReview):
// "authorization: Bearer <token>" on every grpc-js call and on libs/tunnel's HTTP/2 tunnel requests.
// `token` is asked at each call, so a renewed token is used from the next call on.
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';

/** On every call of a grpc-js client (nothing when there is no token). */
export function bearerInterceptor(token: () => string | undefined): Interceptor {
  return (options, next) =>
    new InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        const t = token();
        if (t !== undefined) metadata.set('authorization', `Bearer ${t}`);
        nextStart(metadata, listener);
      },
    });
}

/** The same as request headers, for libs/tunnel's Http2TunnelClient. */
export function bearerHeaders(token: () => string | undefined): () => Record<string, string> {
  return () => {
    const t = token();
    return t === undefined ? {} : { authorization: `Bearer ${t}` };
  };
}
