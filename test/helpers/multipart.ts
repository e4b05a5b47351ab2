/** One part of a multipart/form-data body: a field, or a file when `filename` is given. */
export interface FormPart {
  readonly name: string;
  readonly filename?: string;
  readonly data: Buffer;
}

/** A multipart/form-data body (RFC 7578) with `boundary`; send it with `content-type: multipart/form-data; boundary=...`. */
export function multipart(boundary: string, parts: readonly FormPart[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    out.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n\r\n`),
      p.data,
      Buffer.from('\r\n'),
    );
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}
