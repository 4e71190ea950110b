// The caller's credential towards the traffic-manager (a Kubernetes token it verifies with TokenReview):
// "authorization: Bearer <token>" on every grpc-js call and on libs/tunnel's HTTP/2 tunnel requests.
// `token` is asked at each call, so a renewed token is used from the next call on.
import { InterceptingCall, status, type Interceptor } from '@grpc/grpc-js';

/**
 * On every call of a grpc-js client (nothing when there is no token). `onRejected` hears of calls that
 * ended UNAUTHENTICATED (the token was refused: its owner may refresh it).
 */
export function bearerInterceptor(token: () => string | undefined, onRejected?: () => void): Interceptor {
  return (options, next) =>
    new InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        const t = token();
        if (t !== undefined) metadata.set('authorization', `Bearer ${t}`);
        nextStart(
          metadata,
          onRejected === undefined
            ? listener
            : {
                onReceiveStatus(s, nextStatus) {
                  if (s.code === status.UNAUTHENTICATED) onRejected();
                  nextStatus(s);
                },
              },
        );
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
