// Decoding of Kubernetes protobuf request bodies ("k8s\0" + runtime.Unknown) for the kinds kubectl's
// typed clients send as protobuf (`kubectl create service|namespace|configmap|secret|serviceaccount|token|deployment`, `kubectl run`).
// Field numbers are those of k8s.io/api's generated.proto. Other kinds answer 415 with a hint.
import { ApiError } from './errors.js';

type Scalar = 'string' | 'int' | 'bool' | 'bytes' | 'time';
type FieldType = Scalar | { msg: Schema } | { map: 'string' | 'bytes' } | 'intOrString';
type Schema = Record<number, readonly [name: string, type: FieldType, repeated?: 'repeated']>;

const ownerReference: Schema = {
  1: ['kind', 'string'],
  3: ['name', 'string'],
  4: ['uid', 'string'],
  5: ['apiVersion', 'string'],
  6: ['controller', 'bool'],
  7: ['blockOwnerDeletion', 'bool'],
};

const objectMeta: Schema = {
  1: ['name', 'string'],
  2: ['generateName', 'string'],
  3: ['namespace', 'string'],
  5: ['uid', 'string'],
  6: ['resourceVersion', 'string'],
  7: ['generation', 'int'],
  8: ['creationTimestamp', 'time'],
  11: ['labels', { map: 'string' }],
  12: ['annotations', { map: 'string' }],
  13: ['ownerReferences', { msg: ownerReference }, 'repeated'],
  14: ['finalizers', 'string', 'repeated'],
};

const servicePort: Schema = {
  1: ['name', 'string'],
  2: ['protocol', 'string'],
  3: ['port', 'int'],
  4: ['targetPort', 'intOrString'],
  5: ['nodePort', 'int'],
  6: ['appProtocol', 'string'],
};

const serviceSpec: Schema = {
  1: ['ports', { msg: servicePort }, 'repeated'],
  2: ['selector', { map: 'string' }],
  3: ['clusterIP', 'string'],
  4: ['type', 'string'],
  5: ['externalIPs', 'string', 'repeated'],
  7: ['sessionAffinity', 'string'],
  8: ['loadBalancerIP', 'string'],
  9: ['loadBalancerSourceRanges', 'string', 'repeated'],
  10: ['externalName', 'string'],
  11: ['externalTrafficPolicy', 'string'],
  12: ['healthCheckNodePort', 'int'],
  13: ['publishNotReadyAddresses', 'bool'],
  17: ['ipFamilyPolicy', 'string'],
  18: ['clusterIPs', 'string', 'repeated'],
  19: ['ipFamilies', 'string', 'repeated'],
  20: ['allocateLoadBalancerNodePorts', 'bool'],
  21: ['loadBalancerClass', 'string'],
  22: ['internalTrafficPolicy', 'string'],
};

const localObjectReference: Schema = { 1: ['name', 'string'] };

const containerPort: Schema = {
  1: ['name', 'string'],
  2: ['hostPort', 'int'],
  3: ['containerPort', 'int'],
  4: ['protocol', 'string'],
  5: ['hostIP', 'string'],
};
const envVar: Schema = { 1: ['name', 'string'], 2: ['value', 'string'] };
const container: Schema = {
  1: ['name', 'string'],
  2: ['image', 'string'],
  3: ['command', 'string', 'repeated'],
  4: ['args', 'string', 'repeated'],
  5: ['workingDir', 'string'],
  6: ['ports', { msg: containerPort }, 'repeated'],
  7: ['env', { msg: envVar }, 'repeated'],
  13: ['terminationMessagePath', 'string'],
  14: ['imagePullPolicy', 'string'],
  16: ['stdin', 'bool'],
  17: ['stdinOnce', 'bool'],
  18: ['tty', 'bool'],
  20: ['terminationMessagePolicy', 'string'],
};
const podSpec: Schema = {
  2: ['containers', { msg: container }, 'repeated'],
  3: ['restartPolicy', 'string'],
  4: ['terminationGracePeriodSeconds', 'int'],
  6: ['dnsPolicy', 'string'],
  7: ['nodeSelector', { map: 'string' }],
  8: ['serviceAccountName', 'string'],
  10: ['nodeName', 'string'],
  16: ['hostname', 'string'],
  17: ['subdomain', 'string'],
  20: ['initContainers', { msg: container }, 'repeated'],
  21: ['automountServiceAccountToken', 'bool'],
  30: ['enableServiceLinks', 'bool'],
};
const podTemplateSpec: Schema = { 1: ['metadata', { msg: objectMeta }], 2: ['spec', { msg: podSpec }] };
const labelSelector: Schema = {
  1: ['matchLabels', { map: 'string' }],
  2: [
    'matchExpressions',
    { msg: { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'string', 'repeated'] } },
    'repeated',
  ],
};
const deploymentSpec: Schema = {
  1: ['replicas', 'int'],
  2: ['selector', { msg: labelSelector }],
  3: ['template', { msg: podTemplateSpec }],
  4: ['strategy', { msg: { 1: ['type', 'string'] } }],
  5: ['minReadySeconds', 'int'],
  6: ['revisionHistoryLimit', 'int'],
  7: ['paused', 'bool'],
  9: ['progressDeadlineSeconds', 'int'],
};

// rbac.authorization.k8s.io/v1
const policyRule: Schema = {
  1: ['verbs', 'string', 'repeated'],
  2: ['apiGroups', 'string', 'repeated'],
  3: ['resources', 'string', 'repeated'],
  4: ['resourceNames', 'string', 'repeated'],
  5: ['nonResourceURLs', 'string', 'repeated'],
};
const subject: Schema = {
  1: ['kind', 'string'],
  2: ['apiGroup', 'string'],
  3: ['name', 'string'],
  4: ['namespace', 'string'],
};
const roleRef: Schema = { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] };
const role: Schema = { 1: ['metadata', { msg: objectMeta }], 2: ['rules', { msg: policyRule }, 'repeated'] };
const roleBinding: Schema = {
  1: ['metadata', { msg: objectMeta }],
  2: ['subjects', { msg: subject }, 'repeated'],
  3: ['roleRef', { msg: roleRef }],
};

// authorization.k8s.io/v1 and authentication.k8s.io/v1
const resourceAttributes: Schema = {
  1: ['namespace', 'string'],
  2: ['verb', 'string'],
  3: ['group', 'string'],
  4: ['version', 'string'],
  5: ['resource', 'string'],
  6: ['subresource', 'string'],
  7: ['name', 'string'],
};
const nonResourceAttributes: Schema = { 1: ['path', 'string'], 2: ['verb', 'string'] };
const subjectAccessReviewSpec: Schema = {
  1: ['resourceAttributes', { msg: resourceAttributes }],
  2: ['nonResourceAttributes', { msg: nonResourceAttributes }],
  3: ['user', 'string'],
  4: ['groups', 'string', 'repeated'],
  6: ['uid', 'string'],
};
const review = (spec: Schema): Schema => ({
  1: ['metadata', { msg: objectMeta }],
  2: ['spec', { msg: spec }],
});

const kinds: Record<string, Schema> = {
  Role: role,
  ClusterRole: {
    ...role,
    3: ['aggregationRule', { msg: { 1: ['clusterRoleSelectors', { msg: labelSelector }, 'repeated'] } }],
  },
  RoleBinding: roleBinding,
  ClusterRoleBinding: roleBinding,
  SelfSubjectAccessReview: review({
    1: ['resourceAttributes', { msg: resourceAttributes }],
    2: ['nonResourceAttributes', { msg: nonResourceAttributes }],
  }),
  SubjectAccessReview: review(subjectAccessReviewSpec),
  LocalSubjectAccessReview: review(subjectAccessReviewSpec),
  SelfSubjectRulesReview: review({ 1: ['namespace', 'string'] }),
  SelfSubjectReview: { 1: ['metadata', { msg: objectMeta }] },
  TokenReview: review({ 1: ['token', 'string'], 2: ['audiences', 'string', 'repeated'] }),
  Pod: { 1: ['metadata', { msg: objectMeta }], 2: ['spec', { msg: podSpec }] },
  Deployment: { 1: ['metadata', { msg: objectMeta }], 2: ['spec', { msg: deploymentSpec }] },
  Service: { 1: ['metadata', { msg: objectMeta }], 2: ['spec', { msg: serviceSpec }] },
  Namespace: {
    1: ['metadata', { msg: objectMeta }],
    2: ['spec', { msg: { 1: ['finalizers', 'string', 'repeated'] } }],
  },
  ConfigMap: {
    1: ['metadata', { msg: objectMeta }],
    2: ['data', { map: 'string' }],
    3: ['binaryData', { map: 'bytes' }],
    4: ['immutable', 'bool'],
  },
  Secret: {
    1: ['metadata', { msg: objectMeta }],
    2: ['data', { map: 'bytes' }],
    3: ['type', 'string'],
    4: ['stringData', { map: 'string' }],
    5: ['immutable', 'bool'],
  },
  ServiceAccount: {
    1: ['metadata', { msg: objectMeta }],
    3: ['imagePullSecrets', { msg: localObjectReference }, 'repeated'],
    4: ['automountServiceAccountToken', 'bool'],
  },
  TokenRequest: {
    1: ['metadata', { msg: objectMeta }],
    2: [
      'spec',
      {
        msg: {
          1: ['audiences', 'string', 'repeated'],
          3: [
            'boundObjectRef',
            {
              msg: {
                1: ['kind', 'string'],
                2: ['apiVersion', 'string'],
                3: ['name', 'string'],
                4: ['uid', 'string'],
              },
            },
          ],
          4: ['expirationSeconds', 'int'],
        },
      },
    ],
  },
};

const typeMeta: Schema = { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] };
const unknown: Schema = {
  1: ['typeMeta', { msg: typeMeta }],
  2: ['raw', 'bytes'],
  3: ['contentEncoding', 'string'],
  4: ['contentType', 'string'],
};
const timeSchema: Schema = { 1: ['seconds', 'int'], 2: ['nanos', 'int'] };
const intOrString: Schema = { 1: ['type', 'int'], 2: ['intVal', 'int'], 3: ['strVal', 'string'] };

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }
  bytes(): Buffer {
    const len = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < buf.length) {
    const tag = r.varint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    const f = schema[num];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const [name, type, repeated] = f;
    let value: unknown;
    if (type === 'int') value = r.varint();
    else if (type === 'bool') value = r.varint() !== 0;
    else if (type === 'string') value = r.bytes().toString('utf8');
    else if (type === 'bytes') value = Buffer.from(r.bytes()).toString('base64');
    else if (type === 'time') {
      const t = decodeMessage(r.bytes(), timeSchema);
      value = new Date(Number(t['seconds'] ?? 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    } else if (type === 'intOrString') {
      const v = decodeMessage(r.bytes(), intOrString);
      value = v['type'] === 1 ? (v['strVal'] ?? '') : (v['intVal'] ?? 0);
    } else if ('map' in type) {
      const entry = decodeMessage(r.bytes(), { 1: ['key', 'string'], 2: ['value', type.map] });
      const m = (out[name] as Record<string, unknown> | undefined) ?? {};
      m[String(entry['key'] ?? '')] = entry['value'] ?? '';
      out[name] = m;
      continue;
    } else value = decodeMessage(r.bytes(), type.msg);
    if (repeated) out[name] = [...((out[name] as unknown[] | undefined) ?? []), value];
    else if (!isOmittedZero(name, value)) out[name] = value;
  }
  return out;
}

/**
 * Go's protobuf encoding writes non-pointer fields even when empty, where JSON (omitempty) leaves them
 * out; drop those zero values so defaulting applies. Pointer fields keep an explicit zero.
 */
const pointerFields = new Set([
  'replicas',
  'terminationGracePeriodSeconds',
  'revisionHistoryLimit',
  'progressDeadlineSeconds',
  'automountServiceAccountToken',
  'enableServiceLinks',
  'expirationSeconds',
]);

function isOmittedZero(name: string, value: unknown): boolean {
  if (pointerFields.has(name)) return false;
  return value === '' || value === 0 || value === false || value === '1970-01-01T00:00:00Z';
}

export function isProtobuf(contentType: string): boolean {
  return contentType.split(';')[0]?.trim() === 'application/vnd.kubernetes.protobuf';
}

/** Decodes a protobuf request body into the JSON object the apiserver would have decoded. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0') {
    throw new ApiError(400, 'BadRequest', 'protobuf body without the "k8s\\0" prefix');
  }
  const env = decodeMessage(body.subarray(4), unknown);
  const tm = (env['typeMeta'] ?? {}) as Record<string, unknown>;
  const kind = String(tm['kind'] ?? '');
  const schema = kinds[kind];
  if (!schema) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `devcluster decodes protobuf bodies only for ${Object.keys(kinds).join(', ')}; send ${kind || 'this object'} as JSON (e.g. kubectl apply -f)`,
    );
  }
  const obj = decodeMessage(Buffer.from(String(env['raw'] ?? ''), 'base64'), schema);
  return { apiVersion: tm['apiVersion'], kind, ...obj };
}
