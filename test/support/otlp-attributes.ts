// OTLP KeyValue lists → plain objects, for the test receivers (protobufjs objects with
// `oneofs: true`, or OTLP/JSON).

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export function attributes(list: Any[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

function anyValue(v: Any): AttributeValue {
  if (v === undefined || v === null) return null;
  // protobufjs names the set oneof member in `value`; OTLP/JSON has just that member.
  const kind: string | undefined = typeof v.value === 'string' ? v.value : Object.keys(v)[0];
  switch (kind) {
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'intValue': return Number(v.intValue);
    case 'doubleValue': return Number(v.doubleValue);
    case 'arrayValue': return (v.arrayValue.values ?? []).map(anyValue);
    default: return null;
  }
}
