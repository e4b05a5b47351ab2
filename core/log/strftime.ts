const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const p2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const p3 = (n: number) => String(n).padStart(3, '0');

/** `+0100` style offset of local time from UTC (C's `%z`). */
function tzOffset(d: Date): string {
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `${off >= 0 ? '+' : '-'}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
}

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  return Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1;
}

/** Time zone abbreviation (`CET`, `UTC`) as the platform names it. */
function tzName(d: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((x) => x.type === 'timeZoneName');
  return part?.value ?? '';
}

const CONVERSIONS: Record<string, (d: Date) => string> = {
  a: (d) => DAYS[d.getDay()]!,
  A: (d) => DAYS_LONG[d.getDay()]!,
  b: (d) => MONTHS[d.getMonth()]!,
  h: (d) => MONTHS[d.getMonth()]!,
  B: (d) => MONTHS_LONG[d.getMonth()]!,
  C: (d) => p2(Math.floor(d.getFullYear() / 100)),
  d: (d) => p2(d.getDate()),
  e: (d) => String(d.getDate()).padStart(2, ' '),
  H: (d) => p2(d.getHours()),
  I: (d) => p2(d.getHours() % 12 || 12),
  j: (d) => p3(dayOfYear(d)),
  m: (d) => p2(d.getMonth() + 1),
  M: (d) => p2(d.getMinutes()),
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  S: (d) => p2(d.getSeconds()),
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  u: (d) => String(d.getDay() || 7),
  w: (d) => String(d.getDay()),
  y: (d) => p2(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  z: tzOffset,
  Z: tzName,
  F: (d) => `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`,
  T: (d) => `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`,
  R: (d) => `${p2(d.getHours())}:${p2(d.getMinutes())}`,
  D: (d) => `${p2(d.getMonth() + 1)}/${p2(d.getDate())}/${p2(d.getFullYear() % 100)}`,
  n: () => '\n',
  t: () => '\t',
  '%': () => '%',
};

/**
 * A compiled C `strftime(3)` format in local time (the conversions glibc documents that do not depend
 * on the locale, in the C locale's spelling). An unknown conversion is copied as written, as glibc
 * does.
 */
export function compileStrftime(format: string): (d: Date) => string {
  const parts: Array<string | ((d: Date) => string)> = [];
  let lit = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    const conv = c === '%' && i + 1 < format.length ? CONVERSIONS[format[i + 1]!] : undefined;
    if (conv) {
      if (lit) parts.push(lit);
      lit = '';
      parts.push(conv);
      i++;
    } else lit += c;
  }
  if (lit) parts.push(lit);
  return (d) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(d);
    return out;
  };
}
