/**
 * uWSGI's `http_url_decode` (core/utils.c, uWSGI 2.0), which the `rewrite` action applies to the new
 * path: percent-escapes decoded (a malformed one becomes a NUL byte, `%%` a literal `%`), `//`
 * kept, `.` and `..` segments written literally in the path resolved (`%2e%2e` is decoded but
 * not resolved), everything from `#` dropped, and a path not starting with `/` kept relative.
 * Input and output are latin-1 binary strings.
 */
export function uwsgiUrlDecode(buf: string): string {
  enum S {
    Zero,
    Percent1,
    Percent2,
    Slash,
    Dot,
    DotDot,
  }
  const dst: string[] = [];
  let status = S.Zero;
  let noSlash = false;
  let hex = '';
  if (buf.length > 0 && buf[0] !== '/') {
    status = S.Slash;
    noSlash = true;
  }
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === '#') break;
    switch (status) {
      case S.Zero:
        if (c === '%') status = S.Percent1;
        else if (c === '/') status = S.Slash;
        else dst.push(c);
        break;
      case S.Percent1:
        if (c === '%') {
          dst.push('%');
          status = S.Zero;
        } else {
          hex = c;
          status = S.Percent2;
        }
        break;
      case S.Percent2:
        dst.push(String.fromCharCode(hexByte(hex + c)));
        status = S.Zero;
        break;
      case S.Slash:
        if (c === '.') {
          status = S.Dot;
          break;
        }
        if (i > 0 || !noSlash) dst.push('/');
        if (c === '%') status = S.Percent1;
        else if (c === '/') status = S.Slash;
        else {
          dst.push(c);
          status = S.Zero;
        }
        break;
      case S.Dot:
        if (c === '.') status = S.DotDot;
        else if (c === '/') status = S.Slash;
        else {
          if (i > 1) dst.push('/');
          dst.push('.');
          if (c === '%') status = S.Percent1;
          else {
            dst.push(c);
            status = S.Zero;
          }
        }
        break;
      case S.DotDot:
        if (c === '/') {
          dropSegment(dst);
          status = S.Slash;
          break;
        }
        if (i > 2) dst.push('/');
        dst.push('.', '.');
        if (c === '%') status = S.Percent1;
        else {
          dst.push(c);
          status = S.Zero;
        }
        break;
    }
  }
  if (status === S.Slash || status === S.Dot) dst.push('/');
  else if (status === S.DotDot) {
    let n = dst.length;
    while (n > 0 && dst[n - 1] !== '/') n--;
    dst.length = n;
  }
  return dst.join('');
}

/** Remove the last segment and the slash before it (uWSGI walks back to the previous `/`). */
function dropSegment(dst: string[]): void {
  let n = dst.length;
  while (n > 0) {
    n--;
    if (dst[n] === '/') break;
  }
  dst.length = n;
}

/** uWSGI's hex2num: two hex digits to a byte; 0 when either is not a hex digit. */
function hexByte(two: string): number {
  const v = Number.parseInt(two, 16);
  return /^[0-9a-fA-F]{2}$/.test(two) ? v : 0;
}
