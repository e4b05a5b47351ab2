import fc from 'fast-check';

/** A latin-1 "binary string": one char per byte, any byte. */
export function latin1(maxLength = 40): fc.Arbitrary<string> {
  return fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((n) => String.fromCharCode(n)), maxLength });
}

/** Request vars as a list of pairs (names may repeat, may be `__proto__`). */
export function varPairs(maxPairs = 20): fc.Arbitrary<Array<[string, string]>> {
  return fc.array(
    fc.tuple(fc.oneof(latin1(20), fc.constantFrom('__proto__', 'constructor', 'REQUEST_METHOD')), latin1(60)),
    { maxLength: maxPairs },
  );
}

/** Split `buf` into consecutive chunks at the given (sorted, deduplicated) cut points. */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  out.push(buf.subarray(from));
  return out.filter((b) => b.length > 0);
}
